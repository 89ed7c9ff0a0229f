using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Pruning.Tests;

public class PartitionTests
{
    private static readonly Engine.Model.LlamaConfig Config = PruningFixtures.Config(layers: 8);

    [Fact]
    public void Equal_budgets_split_layers_contiguously_with_embedding_first_and_head_last()
    {
        var plan = LayerPartitioner.Plan(Config, [1L << 30, 1L << 30, 1L << 30], 4, 16, 2);
        Assert.Equal(3, plan.Count);
        Assert.Equal(0, plan[0].FirstLayer);
        Assert.Equal(8, plan[^1].EndLayer);
        for (var i = 1; i < plan.Count; i++) Assert.Equal(plan[i - 1].EndLayer, plan[i].FirstLayer);
        Assert.True(plan[0].Embedding && !plan[0].Head && plan[^1].Head && !plan[1].Embedding);
        Assert.All(plan, a => Assert.True(a.EndLayer - a.FirstLayer >= 2));
    }

    [Fact]
    public void A_bigger_budget_takes_more_layers()
    {
        var plan = LayerPartitioner.Plan(Config, [3L << 30, 1L << 30], 4, 16, 2);
        Assert.True(plan[0].EndLayer - plan[0].FirstLayer > plan[1].EndLayer - plan[1].FirstLayer);
    }

    [Fact]
    public void Budgets_too_small_for_the_model_are_refused_naming_the_node()
    {
        var layer = LayerPartitioner.LayerBytes(Config, 0, 4, 16, 2);
        var e = Assert.Throws<InvalidOperationException>(() => LayerPartitioner.Plan(Config, [layer, layer], 4, 16, 2));
        Assert.Contains("does not fit", e.Message);
        // Split across enough nodes, each smaller than the whole model, it fits.
        var whole = Enumerable.Range(0, 8).Sum(i => LayerPartitioner.LayerBytes(Config, i, 4, 16, 2));
        var budget = whole / 2;
        var plan = LayerPartitioner.Plan(Config, [budget, budget, budget], 4, 16, 2);
        Assert.All(plan, a => Assert.True(a.EstimatedBytes <= budget));
    }

    [Fact]
    public void More_nodes_than_layers_is_refused()
    {
        Assert.Throws<ArgumentException>(() => LayerPartitioner.Plan(PruningFixtures.Config(layers: 2), [1L << 30, 1L << 30, 1L << 30], 1, 8, 1));
    }
}
