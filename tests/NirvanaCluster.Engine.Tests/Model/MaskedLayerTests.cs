using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using Xunit.Abstractions;
using static NirvanaCluster.Engine.Tests.GradCheck;

namespace NirvanaCluster.Engine.Tests.Model;

/// <summary>The optional unit mask of a decoder layer: what it computes, and its backward against finite differences.</summary>
public class MaskedLayerTests(ITestOutputHelper output)
{
    // Tiny(): D 16, H 4, Hkv 2 (G 2, Dh 4), F 10. Group 0 and neurons 1, 4, 5, 8 are removed.
    private static readonly LayerMask Mask = LayerMask.Keeping(0, 2, 10, [1], [0, 2, 3, 6, 7, 9]);

    [Fact]
    public void Masked_forward_equals_the_layer_with_removed_units_output_weights_zeroed()
    {
        var config = (TestConfigs.Tiny() with { AttentionBias = true, AttentionOutputBias = true }).Validated("test");
        var layer = RandomWeights.Create(config, seed: 4, std: 0.3f).Layers[0];
        var zeroed = RandomWeights.Create(config, seed: 4, std: 0.3f).Layers[0];
        int qw = zeroed.Heads * zeroed.HeadDim, gw = qw / zeroed.KvHeads;
        for (var r = 0; r < zeroed.Hidden; r++)
        {
            zeroed.OProj.Single.Slice(r * qw + 0 * gw, gw).Clear(); // group 0's o_proj columns
            foreach (var i in new[] { 1, 4, 5, 8 }) zeroed.DownProj.Single[r * zeroed.Ffn + i] = 0;
        }
        const int b = 2, t = 5;
        var rng = new Random(8);
        var x = RandomArray(rng, b * t * config.HiddenSize);
        var rope = new Rope(config, t);
        var masked = (float[])x.Clone();
        DecoderLayer.Forward(masked, layer, new LayerTape(layer, b, t), rope, config.RmsNormEps, b, t, mask: Mask);
        var reference = (float[])x.Clone();
        DecoderLayer.Forward(reference, zeroed, new LayerTape(zeroed, b, t), rope, config.RmsNormEps, b, t);
        var unmasked = (float[])x.Clone();
        DecoderLayer.Forward(unmasked, layer, new LayerTape(layer, b, t), rope, config.RmsNormEps, b, t);
        var diff = masked.Zip(reference, (p, q) => Math.Abs(p - q)).Max();
        output.WriteLine($"max |masked - zeroed weights| = {diff:E2}; masked vs unmasked {masked.Zip(unmasked, (p, q) => Math.Abs(p - q)).Max():E2}");
        Assert.True(diff <= 1e-6, $"max diff {diff}");
        Assert.True(masked.Zip(unmasked, (p, q) => Math.Abs(p - q)).Max() > 1e-3, "the mask changed nothing; the test proves nothing");
    }

    [Fact]
    public void Masked_layer_backward_matches_finite_differences()
    {
        var config = TestConfigs.Tiny().Validated("test");
        var layer = RandomWeights.Create(config, seed: 3, std: 0.3f).Layers[0];
        const int b = 2, t = 4;
        var rng = new Random(5);
        var x = RandomArray(rng, b * t * config.HiddenSize);
        var probe = RandomArray(rng, x.Length);
        var rope = new Rope(config, t);
        double Loss()
        {
            var y = (float[])x.Clone();
            DecoderLayer.Forward(y, layer, new LayerTape(layer, b, t), rope, config.RmsNormEps, b, t, mask: Mask);
            return Project(y, probe);
        }
        var tape = new LayerTape(layer, b, t);
        var y0 = (float[])x.Clone();
        DecoderLayer.Forward(y0, layer, tape, rope, config.RmsNormEps, b, t, mask: Mask);
        var grad = new LayerGradients(layer);
        var dx = (float[])probe.Clone();
        DecoderLayer.Backward(dx, layer, tape, grad, new LayerTape(layer, b, t), rope, b, t, Mask);
        Check("dx", x, dx, Loss, output);
        foreach (var ((name, w, _), (_, g, _)) in layer.Tensors().Zip(grad.Tensors()))
            Check(name, w, g, Loss, output, samples: 24);
        // Removed neurons' gate rows receive no gradient at all.
        Assert.All(grad.GateProj.AsSpan(1 * config.HiddenSize, config.HiddenSize).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Unit_mask_zeroes_exactly_the_removed_column_blocks_and_checks_its_shapes()
    {
        var x = Enumerable.Range(1, 2 * 3 * 2).Select(i => (float)i).ToArray(); // N 2, U 3, W 2
        UnitMask.Forward(x, [true, false, true], 2, 3, 2);
        Assert.Equal([1f, 2, 0, 0, 5, 6, 7, 8, 0, 0, 11, 12], x);
        Assert.Throws<ArgumentException>(() => UnitMask.Forward(x, [true, false], 2, 3, 2));
        Assert.Throws<ArgumentException>(() => UnitMask.Forward(x, [true, false, true], 3, 3, 2));
        var e = Assert.Throws<ArgumentException>(() => LayerMask.Keeping(3, 2, 10, [], [1]));
        Assert.Contains("layer 3 kept_kv_groups", e.Message);
    }
}
