using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Tests;

public class AllocationTests
{
    [Theory]
    [InlineData(0.2, 17, 106078)]
    [InlineData(0.5, 44, 265197)]
    public void Budget_reproduces_the_worked_Llama_3_1_8B_example(double sparsity, int groups, int neurons)
    {
        // NIRVANA.md section 3: d_h 128, G 4, H_kv 8, d_ff 14336, L 32, gamma 3.36.
        var b = AllocationBudget.Compute(sparsity, 3.36, 128, 4, Enumerable.Repeat(8, 32).ToArray(), Enumerable.Repeat(14336, 32).ToArray());
        Assert.Equal(groups, b.AttentionUnits);
        Assert.Equal(neurons, b.MlpNeurons);
    }

    [Fact]
    public void Budget_matches_a_hand_computation()
    {
        // Dh 2, G 1: a = 2*2*2 = 8. Per layer Hkv 2, F 8; L 2. budget = 0.5 * 2 * (8*2 + 3*8) = 40.
        // gamma 1: r = 4 / 16 = 0.25; n_attn_f = 40 / (8 + 12) = 2; n_mlp = floor(2 / 0.25) = 8.
        var b = AllocationBudget.Compute(0.5, 1, 2, 1, [2, 2], [8, 8]);
        Assert.Equal(40, b.Budget, 9);
        Assert.Equal(0.25, b.UnitsPerNeuron, 12);
        Assert.Equal(2, b.AttentionUnits);
        Assert.Equal(8, b.MlpNeurons);
        // Removing 2 groups (8 each) and 8 neurons (3 each) removes 40 = the budget, in units of D.
        Assert.Equal(2 * 8 + 8 * 3, b.Budget, 9);
    }

    [Fact]
    public void Gamma_moves_pruning_between_attention_and_mlp()
    {
        var mlpHeavy = AllocationBudget.Compute(0.3, 4, 8, 2, [4, 4, 4], [64, 64, 64]);
        var attentionHeavy = AllocationBudget.Compute(0.3, 0.25, 8, 2, [4, 4, 4], [64, 64, 64]);
        Assert.True(attentionHeavy.AttentionUnits > mlpHeavy.AttentionUnits);
        Assert.True(attentionHeavy.MlpNeurons < mlpHeavy.MlpNeurons);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void Sparsity_outside_the_open_unit_interval_is_refused(double sparsity)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => AllocationBudget.Compute(sparsity, 1, 2, 1, [2], [8]));
        Assert.Contains("sparsity", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Non_positive_gamma_is_refused(double gamma)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => AllocationBudget.Compute(0.5, gamma, 2, 1, [2], [8]));
        Assert.Contains("gamma", e.Message);
    }

    [Fact]
    public void Neurons_round_up_to_a_multiple_of_eight_sparing_the_best_candidates()
    {
        // 20 neurons, scores = index; threshold 9.5: candidates 0..9, survivors 10..19 (k0 = 10).
        // k = ceil(10/8)*8 = 16, so 6 candidates are spared: the highest-scoring ones, 4..9.
        var scores = Enumerable.Range(0, 20).Select(i => (double)i).ToArray();
        var kept = SparsityAllocator.KeepNeurons(scores, 9.5);
        Assert.Equal(Enumerable.Range(4, 16), kept);
    }

    [Fact]
    public void Neurons_keep_at_least_eight_and_at_most_all()
    {
        var scores = Enumerable.Range(0, 20).Select(i => (double)i).ToArray();
        Assert.Equal(Enumerable.Range(12, 8), SparsityAllocator.KeepNeurons(scores, 100)); // all candidates: keep the 8 best
        Assert.Equal(Enumerable.Range(0, 20), SparsityAllocator.KeepNeurons(scores, -1)); // none: keep all
        Assert.Equal(Enumerable.Range(0, 5), SparsityAllocator.KeepNeurons([5, 4, 3, 2, 1], 100)); // F < 8: min(F, 8)
        // Exactly a multiple of 8 survives: nothing spared.
        Assert.Equal(Enumerable.Range(4, 16), SparsityAllocator.KeepNeurons(scores, 3));
    }

    [Fact]
    public void The_MLP_multiple_generalises_the_rounding_rule()
    {
        // 100 neurons scored by index, shuffled so "highest-scoring" is not "highest index"; threshold 59.5 leaves k0 = 40.
        var order = Enumerable.Range(0, 100).OrderBy(i => (i * 37) % 100).ToArray();
        var scores = order.Select(i => (double)i).ToArray();
        int[] Kept(int multiple) => SparsityAllocator.KeepNeurons(scores, 59.5, multiple);
        int[] Best(int count) => Enumerable.Range(0, 100).OrderByDescending(i => scores[i]).Take(count).Order().ToArray();
        Assert.Equal(Best(40), Kept(8));   // 40 is a multiple of 8: nothing spared
        Assert.Equal(Best(64), Kept(32));  // ceil(40/32)*32 = 64: the 24 best candidates are spared
        Assert.Equal(Best(100), Kept(256)); // min(F, 256) = 100
        Assert.Equal(Best(40), Kept(1));
        Assert.Equal(Best(32), SparsityAllocator.KeepNeurons(scores, 1000, 32)); // all candidates: at least N
        Assert.Throws<ArgumentOutOfRangeException>(() => SparsityAllocator.KeepNeurons(scores, 0, 0));
        Assert.Throws<ArgumentException>(() => new NirvanaCluster.Pruning.PruneOptions { Sparsity = 0.2, MlpMultiple = 0 }.Validated());
    }

    [Fact]
    public void A_layer_whose_every_group_is_a_candidate_keeps_its_last_group()
    {
        Assert.Equal([3], SparsityAllocator.KeepGroups([0.1, 0.5, 0.2, 0.05], 1.0));
        Assert.Equal([1, 2], SparsityAllocator.KeepGroups([0.1, 0.5, 0.2, 0.05], 0.1));
    }

    [Fact]
    public void Zero_attention_units_means_threshold_zero()
    {
        Assert.Equal(0, SparsityAllocator.NthSmallest([3.0, 1.0, 2.0], 0));
        Assert.Equal(2.0, SparsityAllocator.NthSmallest([3.0, 1.0, 2.0], 2));
        // Positive scores all survive a zero threshold.
        Assert.Equal([0, 1, 2], SparsityAllocator.KeepGroups([3.0, 1.0, 2.0], 0));
    }

    [Fact]
    public void Global_allocation_prunes_the_globally_weakest_units_so_layers_differ()
    {
        // Two layers, Dh 2, G 1 (a = 8), Hkv 2, F 8 each: gamma 1 gives n_attn 2 and n_mlp 8 at s = 0.5 (see above).
        // Layer 0 holds the weak units, so it loses more than layer 1.
        var scores = new[]
        {
            new LayerScores(0, [0.1, 0.2], Enumerable.Range(0, 8).Select(i => 0.01 * i).ToArray()),
            new LayerScores(1, [5.0, 6.0], Enumerable.Range(0, 8).Select(i => 10.0 + i).ToArray()),
        };
        var r = SparsityAllocator.Allocate(scores, 0.5, 1, 2, 1, AllocationMode.Global);
        Assert.Equal(0.2, r.AttentionThreshold);
        Assert.Equal(0.07, r.MlpThreshold, 12);
        Assert.Equal([1], r.Layers[0].KeptGroups);         // both candidates: the last group survives
        Assert.Equal([0, 1], r.Layers[1].KeptGroups);
        Assert.Equal(Enumerable.Range(0, 8), r.Layers[0].KeptNeurons); // all 8 pruned, at least 8 kept: all spared
        Assert.Equal(Enumerable.Range(0, 8), r.Layers[1].KeptNeurons);

        var uniform = SparsityAllocator.Allocate(scores, 0.5, 1, 2, 1, AllocationMode.Uniform);
        Assert.Equal([1], uniform.Layers[0].KeptGroups);
        Assert.Equal([1], uniform.Layers[1].KeptGroups);     // uniform: each layer loses one group
    }

    [Fact]
    public void Global_allocation_on_wide_layers_gives_each_layer_its_own_sparsity()
    {
        var rng = new Random(3);
        var scores = Enumerable.Range(0, 4).Select(l => new LayerScores(l,
            Enumerable.Range(0, 8).Select(_ => rng.NextDouble() * (l + 1)).ToArray(),
            Enumerable.Range(0, 256).Select(_ => rng.NextDouble() * (l + 1)).ToArray())).ToArray();
        var r = SparsityAllocator.Allocate(scores, 0.4, 1, 16, 2, AllocationMode.Global);
        var widths = r.Layers.Select(l => l.KeptNeurons.Length).ToArray();
        Assert.All(widths, w => Assert.Equal(0, w % 8));
        Assert.True(widths[0] < widths[3], $"weak layer 0 keeps {widths[0]}, strong layer 3 keeps {widths[3]}");
        var pruned = scores.Sum(s => s.Mlp.Length) - widths.Sum();
        Assert.InRange(pruned, r.Budget.MlpNeurons - 4 * 7, r.Budget.MlpNeurons);
    }
}
