using System.Text.Json;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests.Reference;

/// <summary>
/// The engine's logits against an independent double-precision Python implementation of Hugging Face's
/// LlamaForCausalLM / Qwen2 / Mistral forward, on random checkpoints of every supported variant.
/// </summary>
public class ReferenceLogitsTests(ITestOutputHelper output)
{
    public static TheoryData<string> Variants =>
        ["base", "gqa", "bf16", "f16", "sharded", "tied", "qwen2-bias", "llama-bias", "head-dim", "llama3-rope", "pruned", "mistral"];

    [Theory]
    [MemberData(nameof(Variants))]
    public void Logits_and_loss_match_the_independent_reference(string variant)
    {
        var dir = PythonReference.Make(variant, seed: 7);
        try
        {
            var tokens = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(Path.Combine(dir, "tokens.json")))!;
            using var expectedDoc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
            var expected = expectedDoc.RootElement.GetProperty("logits");
            var model = ShardLoader.LoadAll(dir);
            int b = tokens.Length, t = tokens[0].Length, v = model.Vocab;
            var ids = tokens.SelectMany(r => r).ToArray();
            var x = new float[b * t * model.Hidden];
            model.Embed(x, ids);
            model.ForwardLayers(x, b, t);
            var normed = new float[x.Length];
            model.FinalNormForward(normed, default, x, b * t);
            var logits = new float[b * t * v];
            model.Logits(logits, normed, b * t);

            double maxDiff = 0, scale = 1;
            for (var s = 0; s < b; s++)
                for (var p = 0; p < t; p++)
                {
                    var row = expected[s][p];
                    for (var k = 0; k < v; k++)
                    {
                        var e = row[k].GetDouble();
                        scale = Math.Max(scale, Math.Abs(e));
                        maxDiff = Math.Max(maxDiff, Math.Abs(e - logits[(s * t + p) * v + k]));
                    }
                }
            var targets = ids.Select((_, i) => i % t == t - 1 ? -1 : ids[i + 1]).ToArray();
            var loss = CrossEntropy.Forward(logits, targets, v) / (b * (t - 1));
            var expectedLoss = expectedDoc.RootElement.GetProperty("loss").GetDouble();
            output.WriteLine($"{variant}: max |logit - reference| = {maxDiff:E2} (scale {scale:F2}), loss {loss:F6} vs {expectedLoss:F6}");
            Assert.True(maxDiff <= 1e-4 * scale, $"{variant}: max logit difference {maxDiff:E3} exceeds 1e-4 x {scale:F2}");
            Assert.True(Math.Abs(loss - expectedLoss) <= 1e-4 * Math.Max(1, expectedLoss), $"{variant}: loss {loss} vs {expectedLoss}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Reference_selftest_passes()
    {
        PythonReference.Run("selftest");
    }

    [Fact]
    public void A_shard_loads_only_its_layers_and_chains_to_the_whole_model()
    {
        var dir = PythonReference.Make("sharded", seed: 3);
        try
        {
            using var checkpoint = Checkpoint.Open(dir);
            var first = ShardLoader.Load(checkpoint, 0, 1, embedding: true, head: false);
            Assert.Null(first.LmHead);
            Assert.Single(first.Layers);
            var whole = ShardLoader.LoadAll(checkpoint);
            var last = ShardLoader.Load(checkpoint, 1, 2, embedding: false, head: true);
            var ids = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(Path.Combine(dir, "tokens.json")))!.SelectMany(r => r).ToArray();
            var a = new float[ids.Length * whole.Hidden];
            whole.Embed(a, ids);
            whole.ForwardLayers(a, 2, ids.Length / 2);
            var c = new float[a.Length];
            first.Embed(c, ids);
            first.ForwardLayers(c, 2, ids.Length / 2);
            last.ForwardLayers(c, 2, ids.Length / 2);
            Assert.Equal(a, c);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
