using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;
using Xunit.Abstractions;

namespace NirvanaCluster.Pruning.Tests;

public class CompactionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Compacted_model_equals_the_dense_model_with_removed_units_zeroed(bool bias)
    {
        var config = PruningFixtures.Config() with { ModelType = bias ? "qwen2" : "llama", AttentionBias = bias };
        var dense = RandomWeights.Create(config, seed: 17, std: 0.2f);
        var rng = new Random(4);
        var plans = dense.Layers.Select(l => new LayerPlan(l.Index, l.KvHeads, l.Ffn,
            Subset(rng, l.KvHeads, 1 + rng.Next(l.KvHeads)), Subset(rng, l.Ffn, 8 + rng.Next(l.Ffn - 8)), [], [])).ToArray();

        // Zeroing o_proj columns of a removed group and down_proj columns of a removed neuron silences them exactly.
        var masked = RandomWeights.Create(config, seed: 17, std: 0.2f);
        foreach (var (layer, plan) in masked.Layers.Zip(plans))
        {
            int qw = layer.Heads * layer.HeadDim, gw = qw / layer.KvHeads;
            for (var g = 0; g < layer.KvHeads; g++)
                if (!plan.KeptKvGroups.Contains(g))
                    for (var r = 0; r < layer.Hidden; r++) layer.OProj.Single.Slice(r * qw + g * gw, gw).Clear();
            for (var i = 0; i < layer.Ffn; i++)
                if (!plan.KeptMlpNeurons.Contains(i))
                    for (var r = 0; r < layer.Hidden; r++) layer.DownProj.Single[r * layer.Ffn + i] = 0;
        }
        var prunedConfig = Compactor.PrunedConfig(config, plans).Validated("pruned");
        var pruned = new LlamaShard(prunedConfig, 0, dense.Layers.Zip(plans, Compactor.Compact).ToArray(),
            dense.EmbedTokens, dense.FinalNorm, dense.LmHead);
        Assert.True(pruned.ParameterCount < dense.ParameterCount);
        Assert.Equal(ParameterCounts.Of(prunedConfig), pruned.ParameterCount);

        var ids = PruningFixtures.Sequences(2, 7, config.VocabSize, 3).SelectMany(s => s).ToArray();
        var a = ShardLogits.Of(masked, ids, 2, 7);
        var b = ShardLogits.Of(pruned, ids, 2, 7);
        var maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        var scale = a.Max(Math.Abs);
        output.WriteLine($"max |masked - compacted| = {maxDiff:E2} (logit scale {scale:F3})");
        Assert.True(maxDiff <= 1e-5 * Math.Max(1, scale), $"max diff {maxDiff}");
    }

    [Fact]
    public void Compaction_keeps_exactly_the_planned_rows_and_columns()
    {
        var config = PruningFixtures.Config(layers: 1) with { AttentionBias = true, ModelType = "qwen2" };
        var layer = RandomWeights.Create(config, seed: 2).Layers[0];
        var plan = new LayerPlan(0, 4, 48, [1, 3], [0, 5, 6, 7, 9, 20, 30, 47], [], []);
        var c = Compactor.Compact(layer, plan);
        int d = layer.Hidden, dh = layer.HeadDim, g = 2;
        Assert.Equal((4, 2, 8), (c.Heads, c.KvHeads, c.Ffn));
        // q rows of group 3 (heads 6, 7) land at compacted heads 2, 3.
        Assert.Equal(layer.QProj.Single.Slice(3 * g * dh * d, g * dh * d).ToArray(), c.QProj.Single.Slice(1 * g * dh * d, g * dh * d).ToArray());
        Assert.Equal(layer.KBias!.AsSpan(1 * dh, dh).ToArray(), c.KBias!.AsSpan(0, dh).ToArray());
        Assert.Equal(layer.OProj.Single[5 * layer.Heads * dh + 3 * g * dh + 1], c.OProj.Single[5 * c.Heads * dh + 1 * g * dh + 1]);
        Assert.Equal(layer.GateProj.Single.Slice(47 * d, d).ToArray(), c.GateProj.Single.Slice(7 * d, d).ToArray());
        Assert.Equal(layer.DownProj.Single[2 * 48 + 20], c.DownProj.Single[2 * 8 + 5]);
    }

    [Fact]
    public void Bad_plans_are_refused_with_the_layer_named()
    {
        var layer = RandomWeights.Create(PruningFixtures.Config(layers: 1), seed: 2).Layers[0];
        var e = Assert.Throws<ArgumentException>(() => Compactor.Compact(layer, new LayerPlan(0, 4, 48, [0, 4], [1], [], [])));
        Assert.Contains("layer 0 kept_kv_groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => Compactor.Compact(layer, new LayerPlan(0, 4, 48, [0], [3, 2], [], [])));
        Assert.Contains("ascend", e.Message);
    }

    [Fact]
    public async Task Plans_are_consistent_and_shrink_the_model_by_about_the_requested_sparsity()
    {
        var config = PruningFixtures.Config(layers: 4) with { IntermediateSize = 128 };
        var whole = RandomWeights.Create(config, seed: 9, std: 0.1f);
        var stages = PruningFixtures.Stages(whole);
        var options = new PruneOptions { Sparsity = 0.4, Gamma = 1, MicroBatchSize = 2 };
        await using var pipeline = new InProcessPipeline(stages);
        var result = await new PruneJob(config, pipeline, options).PlanAsync(PruningFixtures.Sequences(4, 8, config.VocabSize, 1));
        var plan = result.Plan;
        foreach (var l in plan.Layers)
        {
            Assert.True(l.KeptKvGroups.Length >= 1 && l.KeptMlpNeurons.Length % 8 == 0);
            Assert.Equal(l.KeptKvGroups.OrderBy(x => x), l.KeptKvGroups);
            Assert.Equal(l.KeptMlpNeurons.Distinct().OrderBy(x => x), l.KeptMlpNeurons);
            Assert.Equal(l.KvGroupsBefore, l.AttentionScores.Length);
            Assert.Equal(l.NeuronsBefore, l.MlpScores.Length);
            // Every pruned neuron scores no higher than every survivor that was not spared by rounding.
            var prunedMax = Enumerable.Range(0, l.NeuronsBefore).Except(l.KeptMlpNeurons).Select(i => l.MlpScores[i]).DefaultIfEmpty(double.MinValue).Max();
            Assert.True(prunedMax <= plan.MlpThreshold);
        }
        long linearBefore = 0, linearAfter = 0;
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            linearBefore += ParameterCounts.Layer(config, i);
            linearAfter += ParameterCounts.Layer(result.PrunedConfig, i);
        }
        var removed = 1 - (double)linearAfter / linearBefore;
        output.WriteLine($"layer parameters removed: {removed:P1}");
        Assert.InRange(removed, 0.3, 0.45);
        Assert.Equal(ParameterCounts.Of(result.PrunedConfig), plan.ParametersAfter);
        // The budget removes ~sparsity of the projection weights (rounding to multiples of 8 keeps a little more).
        output.WriteLine($"projection weights removed: {plan.ProjectionSparsity:P1}");
        Assert.InRange(plan.ProjectionSparsity, 0.4 - 0.06, 0.4);
    }

    private static int[] Subset(Random rng, int count, int take) =>
        Enumerable.Range(0, count).OrderBy(_ => rng.Next()).Take(take).Order().ToArray();
}
