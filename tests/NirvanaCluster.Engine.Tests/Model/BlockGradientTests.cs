using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using Xunit.Abstractions;
using static NirvanaCluster.Engine.Tests.GradCheck;

namespace NirvanaCluster.Engine.Tests.Model;

/// <summary>A whole decoder layer and a whole model shard against finite differences.</summary>
public class BlockGradientTests(ITestOutputHelper output)
{
    public static TheoryData<string> Variants => ["mha", "gqa", "bias", "llama-bias", "pruned", "head-dim", "llama3"];

    private static LlamaConfig ConfigFor(string variant) => variant switch
    {
        "mha" => TestConfigs.Tiny() with { NumKeyValueHeads = 4 },
        "gqa" => TestConfigs.Tiny(),
        "bias" => TestConfigs.Tiny() with { ModelType = "qwen2", AttentionBias = true },
        "llama-bias" => TestConfigs.Tiny() with { AttentionBias = true, AttentionOutputBias = true },
        "pruned" => TestConfigs.Tiny() with { LayerAttentionHeads = [2, 4], LayerKeyValueHeads = [1, 2], LayerIntermediateSizes = [7, 10] },
        "head-dim" => TestConfigs.Tiny() with { ExplicitHeadDim = 6 },
        "llama3" => TestConfigs.Tiny() with { RopeTheta = 500000f, RopeScaling = new RopeScaling("llama3", 8f, 1f, 4f, 16) },
        _ => throw new ArgumentException(variant),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Decoder_layer_backward_matches_finite_differences(string variant)
    {
        var config = ConfigFor(variant).Validated("test");
        var shard = RandomWeights.Create(config, seed: 3, std: 0.3f);
        const int b = 2, t = 4;
        var rng = new Random(5);
        var x = RandomArray(rng, b * t * config.HiddenSize);
        var probe = RandomArray(rng, x.Length);
        var layer = shard.Layers[0];
        var rope = shard.RopeFor(t);
        double Loss()
        {
            var y = (float[])x.Clone();
            DecoderLayer.Forward(y, layer, new LayerTape(layer, b, t), rope, config.RmsNormEps, b, t);
            return Project(y, probe);
        }
        var tape = new LayerTape(layer, b, t);
        var y0 = (float[])x.Clone();
        DecoderLayer.Forward(y0, layer, tape, rope, config.RmsNormEps, b, t);
        var grad = new LayerGradients(layer);
        var dx = (float[])probe.Clone();
        DecoderLayer.Backward(dx, layer, tape, grad, new LayerTape(layer, b, t), rope, b, t);
        Check("dx", x, dx, Loss, output);
        foreach (var ((name, w, _), (_, g, _)) in layer.Tensors().Zip(grad.Tensors()))
            Check(name, w, g, Loss, output, samples: 24);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Whole_model_loss_gradient_matches_finite_differences(string variant)
    {
        var config = ConfigFor(variant).Validated("test");
        var shard = RandomWeights.Create(config, seed: 11, std: 0.3f);
        const int b = 2, t = 5;
        var rng = new Random(9);
        var ids = Enumerable.Range(0, b * t).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var targets = ids.Select((_, i) => i % t == t - 1 ? -1 : ids[i + 1]).ToArray();
        var grads = shard.Layers.Select(l => (LayerGradients?)new LayerGradients(l)).ToArray();
        var loss = ModelLoss(shard, ids, targets, b, t, grads);
        output.WriteLine($"loss {loss:F5}");
        Assert.True(double.IsFinite(loss) && loss > 0, $"loss {loss}");
        double Loss() => ModelLoss(shard, ids, targets, b, t, null);
        for (var i = 0; i < shard.Layers.Count; i++)
            foreach (var ((name, w, _), (_, g, _)) in shard.Layers[i].Tensors().Zip(grads[i]!.Tensors()))
                Check(name, w, g, Loss, output, samples: 12);
    }

    /// <summary>Mean next-token NLL; with grads, also runs the full backward (head, final norm, layers).</summary>
    internal static double ModelLoss(LlamaShard shard, int[] ids, int[] targets, int b, int t, LayerGradients?[]? grads)
    {
        int n = b * t, d = shard.Hidden, vocab = shard.Vocab;
        var x = new float[n * d];
        shard.Embed(x, ids);
        var tapes = shard.CreateTapes(b, t);
        shard.ForwardLayers(x, b, t, tapes);
        var normed = new float[n * d];
        var rstd = new float[n];
        shard.FinalNormForward(normed, rstd, x, n);
        var logits = new float[n * vocab];
        shard.Logits(logits, normed, n);
        var counted = targets.Count(y => y >= 0);
        var loss = CrossEntropy.Forward(logits, targets, vocab) / counted;
        if (grads is null) return loss;
        var dlogits = new float[logits.Length];
        CrossEntropy.Backward(dlogits, logits, targets, vocab, 1f / counted);
        var dnormed = new float[n * d];
        shard.LogitsBackward(dnormed, dlogits, n);
        var dx = new float[n * d];
        shard.FinalNormBackward(dx, dnormed, x, rstd, n);
        shard.BackwardLayers(dx, b, t, tapes, grads, shard.CreateScratch(b, t));
        return loss;
    }

    [Fact]
    public void Shards_chained_equal_the_whole_model_forward_and_backward()
    {
        var config = TestConfigs.Tiny() with { NumHiddenLayers = 3 };
        var whole = RandomWeights.Create(config, seed: 21, std: 0.3f);
        var first = new LlamaShard(config, 0, [whole.Layers[0]], whole.EmbedTokens, null, null);
        var rest = new LlamaShard(config, 1, [whole.Layers[1], whole.Layers[2]], null, whole.FinalNorm, whole.LmHead);
        const int b = 2, t = 4;
        var rng = new Random(2);
        var ids = Enumerable.Range(0, b * t).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var probe = RandomArray(rng, b * t * config.HiddenSize);

        var xWhole = new float[b * t * config.HiddenSize];
        whole.Embed(xWhole, ids);
        var tapesWhole = whole.CreateTapes(b, t);
        whole.ForwardLayers(xWhole, b, t, tapesWhole);
        var gradsWhole = whole.Layers.Select(l => (LayerGradients?)new LayerGradients(l)).ToArray();
        var dWhole = (float[])probe.Clone();
        whole.BackwardLayers(dWhole, b, t, tapesWhole, gradsWhole, whole.CreateScratch(b, t));

        var xSplit = new float[xWhole.Length];
        first.Embed(xSplit, ids);
        var tapes1 = first.CreateTapes(b, t);
        var tapes2 = rest.CreateTapes(b, t);
        first.ForwardLayers(xSplit, b, t, tapes1);
        rest.ForwardLayers(xSplit, b, t, tapes2);
        Assert.Equal(xWhole, xSplit);
        var grads1 = first.Layers.Select(l => (LayerGradients?)new LayerGradients(l)).ToArray();
        var grads2 = rest.Layers.Select(l => (LayerGradients?)new LayerGradients(l)).ToArray();
        var dSplit = (float[])probe.Clone();
        rest.BackwardLayers(dSplit, b, t, tapes2, grads2, rest.CreateScratch(b, t));
        first.BackwardLayers(dSplit, b, t, tapes1, grads1, first.CreateScratch(b, t));
        Assert.Equal(dWhole, dSplit);
        Assert.Equal(gradsWhole[0]!.QProj, grads1[0]!.QProj);
        Assert.Equal(gradsWhole[2]!.DownProj, grads2[1]!.DownProj);
    }

    [Fact]
    public void Inference_forward_with_scratch_equals_taped_forward()
    {
        var config = TestConfigs.Tiny() with { LayerAttentionHeads = [2, 4], LayerKeyValueHeads = [1, 2], LayerIntermediateSizes = [7, 10] };
        var shard = RandomWeights.Create(config, seed: 4, std: 0.3f);
        var x = RandomArray(new Random(1), 3 * 4 * config.HiddenSize);
        var a = (float[])x.Clone();
        var c = (float[])x.Clone();
        shard.ForwardLayers(a, 3, 4, shard.CreateTapes(3, 4));
        shard.ForwardLayers(c, 3, 4);
        Assert.Equal(a, c);
    }
}
