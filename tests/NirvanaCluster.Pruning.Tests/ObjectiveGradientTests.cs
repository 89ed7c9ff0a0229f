using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Objective;
using NirvanaCluster.Pruning.Pipeline;
using Xunit.Abstractions;

namespace NirvanaCluster.Pruning.Tests;

/// <summary>The objectives' gradients, taken through the pipeline, against finite differences of the objectives.</summary>
public class ObjectiveGradientTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ObjectiveKind.MaxLogit)]
    [InlineData(ObjectiveKind.LanguageModelLoss)]
    public async Task Pipeline_gradients_match_finite_differences_of_the_objective(ObjectiveKind kind)
    {
        var config = PruningFixtures.Config(layers: 2) with { HiddenSize = 16, IntermediateSize = 12, NumAttentionHeads = 4, NumKeyValueHeads = 2 };
        var whole = RandomWeights.Create(config, seed: 5, std: 0.3f);
        var sequences = PruningFixtures.Sequences(3, 6, config.VocabSize, seed: 8);
        var worker = new ShardWorker(whole);
        await using var stage = new LocalStage("s", worker);
        var pass = await PipelineRunner.RunAsync([stage], sequences, microBatchSize: 2, kind);

        double Objective()
        {
            var probe = new ShardWorker(whole);
            double total = 0;
            for (var i = 0; i < sequences.Length; i++)
                total += probe.Forward(i, sequences[i], null, 1, 6, kind, sequences.Length).Objective;
            return total;
        }
        // The pass groups sequences in micro-batches of 2, the probe one at a time: equal up to float32 summation.
        var reference = Objective();
        Assert.True(Math.Abs(pass.Objective - reference) <= 1e-6 * Math.Abs(reference), $"pass objective {pass.Objective} vs {reference}");
        var grads = GradientsOf(worker);
        var rng = new Random(1);
        double maxDiff = 0;
        int checkedCount = 0, kinks = 0;
        var f0 = Objective();
        foreach (var (layer, grad) in whole.Layers.Zip(grads))
            foreach (var ((name, w, _), (_, g, _)) in layer.Tensors().Zip(grad.Tensors()))
                for (var k = 0; k < 6; k++)
                {
                    var i = rng.Next((int)w.Length);
                    var saved = w.Single[i];
                    const float h = 3e-3f;
                    w.Single[i] = saved + h;
                    var plus = Objective();
                    w.Single[i] = saved - h;
                    var minus = Objective();
                    w.Single[i] = saved;
                    // A max over positions is piecewise smooth: where an arg-max changes inside [-h, h] the two
                    // one-sided slopes disagree, and no derivative exists to compare with. Skip those points.
                    var right = (plus - f0) / h;
                    var left = (f0 - minus) / h;
                    if (Math.Abs(right - left) > 0.05 * Math.Max(Math.Abs(right), Math.Abs(left)) + 1e-3) { kinks++; continue; }
                    checkedCount++;
                    var numeric = (plus - minus) / (2 * h);
                    maxDiff = Math.Max(maxDiff, Math.Abs(numeric - g[i]));
                    Assert.True(Math.Abs(numeric - g[i]) <= 3e-4 + 3e-2 * Math.Abs(numeric), $"{name}[{i}]: analytic {g[i]:G6} vs numeric {numeric:G6}");
                }
        output.WriteLine($"{kind}: max |analytic - numeric| = {maxDiff:E2} over {checkedCount} coordinates ({kinks} at kinks skipped)");
        Assert.True(checkedCount >= 4 * kinks && checkedCount >= 40, $"only {checkedCount} coordinates checked, {kinks} skipped");
    }

    [Fact]
    public void Max_logit_takes_the_earliest_position_on_ties()
    {
        // logits[T=3, V=2]: column 0 peaks at t=1, column 1 ties between t=0 and t=2.
        float[] logits = [1, 5, 3, 2, 0, 5];
        var max = new float[2];
        var arg = new int[2];
        MaxLogitObjective.ColumnMax(logits, 3, 2, max, arg);
        Assert.Equal([3f, 5f], max);
        Assert.Equal([1, 0], arg);
    }

    [Theory]
    [InlineData(1, 8)]
    [InlineData(5, 19)]
    [InlineData(9, 67)]
    public void Vectorized_column_max_matches_a_naive_scan_including_ties(int positions, int vocab)
    {
        var rng = new Random(positions * 100 + vocab);
        // Few distinct values, so ties are common and the earliest-position rule is exercised in every lane.
        var logits = Enumerable.Range(0, positions * vocab).Select(_ => (float)rng.Next(4)).ToArray();
        var max = new float[vocab];
        var arg = new int[vocab];
        MaxLogitObjective.ColumnMax(logits, positions, vocab, max, arg);
        for (var v = 0; v < vocab; v++)
        {
            var best = 0;
            for (var t = 1; t < positions; t++) if (logits[t * vocab + v] > logits[best * vocab + v]) best = t;
            Assert.Equal(best, arg[v]);
            Assert.Equal(logits[best * vocab + v], max[v]);
        }
    }

    internal static LayerGradients[] GradientsOf(ShardWorker worker)
    {
        var field = typeof(ShardWorker).GetField("_grads", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        return ((LayerGradients?[])field.GetValue(worker)!).Select(g => g!).ToArray();
    }
}
