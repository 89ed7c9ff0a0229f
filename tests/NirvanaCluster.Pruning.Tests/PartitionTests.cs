using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Pruning.Tests;

public class PartitionTests
{
    private static readonly LlamaConfig Config = PruningFixtures.Config(layers: 8) with { HiddenSize = 256, IntermediateSize = 768, VocabSize = 4000 };
    private static readonly PassShape Pass = new(4, 64, 32);

    private static long Need(int first, int end, bool embedding, bool head, StageSchedule schedule) =>
        StageMemoryModel.Need(Config, new StageExtent(first, end, embedding, head, 2), Pass).BytesFor(schedule);

    [Fact]
    public void Equal_budgets_split_layers_contiguously_with_embedding_first_and_head_last()
    {
        var plan = LayerPartitioner.Plan(Config, [1L << 30, 1L << 30, 1L << 30], Pass, 2);
        Assert.Equal(3, plan.Count);
        Assert.Equal(0, plan[0].FirstLayer);
        Assert.Equal(8, plan[^1].EndLayer);
        for (var i = 1; i < plan.Count; i++) Assert.Equal(plan[i - 1].EndLayer, plan[i].FirstLayer);
        Assert.True(plan[0].Embedding && !plan[0].Head && plan[^1].Head && !plan[1].Embedding);
        Assert.All(plan, a => Assert.True(a.EndLayer - a.FirstLayer >= 2));
        Assert.All(plan, a => Assert.Equal(StageSchedule.AllLayers, a.Schedule));
        Assert.All(plan, a => Assert.Equal(Need(a.FirstLayer, a.EndLayer, a.Embedding, a.Head, StageSchedule.AllLayers), a.EstimatedBytes));
    }

    [Fact]
    public void A_bigger_budget_takes_more_layers()
    {
        var plan = LayerPartitioner.Plan(Config, [3L << 30, 1L << 30], Pass, 2);
        Assert.True(plan[0].EndLayer - plan[0].FirstLayer > plan[1].EndLayer - plan[1].FirstLayer);
    }

    [Fact]
    public void Where_all_layers_does_not_fit_the_bounded_schedule_is_chosen_from_the_head_down_and_kept_below_it()
    {
        // Two budgets with which no all-layers split fits but a layer-bounded one does.
        var half = LayerPartitioner.MinimumEqualBudget(Config, 2, Pass, 2, StageSchedule.LayerBounded)!.Value;
        Assert.True(LayerPartitioner.MinimumEqualBudget(Config, 2, Pass, 2, StageSchedule.AllLayers) > half);
        Assert.Null(LayerPartitioner.TryPlan(Config, [half, half], Pass, 2, StageSchedule.AllLayers));
        var plan = LayerPartitioner.Plan(Config, [half, half], Pass, 2);
        Assert.All(plan, a => Assert.Equal(StageSchedule.LayerBounded, a.Schedule));
        Assert.All(plan, a => Assert.True(a.EstimatedBytes <= half && a.AllLayersBytes > half || a.Node == 0));

        // A roomy head node keeps all-layers while the node before it must bound: allowed (bounded stages come first).
        var roomy = LayerPartitioner.Plan(Config, [half, 4L << 30], Pass, 2);
        Assert.Equal(StageSchedule.AllLayers, roomy[1].Schedule);
        Assert.True(roomy[0].Schedule == StageSchedule.LayerBounded || roomy[0].AllLayersBytes <= half);
        // A roomy first node before a bounded head must bound too: it receives the head's deferred gradients.
        var before = LayerPartitioner.Plan(Config, [4L << 30, Need(4, 8, false, true, StageSchedule.LayerBounded) + (1L << 20)], Pass, 2, StageSchedule.LayerBounded);
        Assert.All(before, a => Assert.Equal(StageSchedule.LayerBounded, a.Schedule));
        var auto = LayerPartitioner.TryPlan(Config, [4L << 30, Need(6, 8, false, true, StageSchedule.LayerBounded) + (1L << 20)], Pass, 2);
        Assert.NotNull(auto);
        if (auto![1].Schedule == StageSchedule.LayerBounded) Assert.Equal(StageSchedule.LayerBounded, auto[0].Schedule);
    }

    [Fact]
    public void Budgets_too_small_for_the_model_are_refused_with_what_would_fit()
    {
        var one = Need(0, 1, true, false, StageSchedule.LayerBounded);
        var e = Assert.Throws<InvalidOperationException>(() => LayerPartitioner.Plan(Config, [one / 2, one / 2], Pass, 2));
        Assert.Contains("does not fit", e.Message);
        Assert.Contains("node(s) of at least", e.Message);
        // The minimum equal budget it names does fit, and 1 MiB less does not.
        var least = LayerPartitioner.MinimumEqualBudget(Config, 2, Pass, 2)!.Value;
        Assert.NotNull(LayerPartitioner.TryPlan(Config, [least, least], Pass, 2));
        Assert.Null(LayerPartitioner.TryPlan(Config, [least - (1L << 20), least - (1L << 20)], Pass, 2));
        // Split across enough nodes, each with room for about half of the model beside its runtime, it fits.
        var whole = Need(0, 8, true, true, StageSchedule.AllLayers);
        var node = StageMemoryModel.RuntimeBytes + (whole - StageMemoryModel.RuntimeBytes) / 2;
        var nodes = LayerPartitioner.MinimumNodes(Config, node, Pass, 2)!.Value;
        Assert.InRange(nodes, 2, 8);
        var plan = LayerPartitioner.Plan(Config, Enumerable.Repeat(node, nodes).ToArray(), Pass, 2);
        Assert.All(plan, a => Assert.True(a.EstimatedBytes <= node));
    }

    [Fact]
    public void Held_precision_counts_in_the_need()
    {
        var bf16 = StageMemoryModel.Need(Config, new StageExtent(0, 8, true, true, 2), Pass);
        var f32 = StageMemoryModel.Need(Config, new StageExtent(0, 8, true, true, 4), Pass);
        Assert.Equal(2 * (bf16.WeightBytes - 4 * VectorElements()) + 4 * VectorElements(), f32.WeightBytes);
        Assert.True(bf16.LayerBoundedBytes < bf16.AllLayersBytes);
    }

    [Fact]
    public void More_nodes_than_layers_is_refused()
    {
        Assert.Throws<ArgumentException>(() => LayerPartitioner.Plan(PruningFixtures.Config(layers: 2), [1L << 30, 1L << 30, 1L << 30], Pass, 4));
    }

    private static long VectorElements() =>
        Enumerable.Range(0, 8).Sum(l => StageMemoryModel.LayerParameters(Config, l).Vectors) + Config.HiddenSize;
}
