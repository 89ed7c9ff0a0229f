using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Evaluation;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using Xunit.Abstractions;

namespace NirvanaCluster.Pruning.Tests;

/// <summary>Candidates scored with their removed units masked in the dense model, against the compacted models.</summary>
public class MaskedEvaluationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Masked_kl_and_perplexity_equal_the_compacted_models_and_pick_the_same_candidate(bool bias)
    {
        var config = PruningFixtures.Config(layers: 3) with { ModelType = bias ? "qwen2" : "llama", AttentionBias = bias };
        var dense = RandomWeights.Create(config, seed: 5, std: 0.1f);
        var heldOut = PruningFixtures.Sequences(7, 9, config.VocabSize, seed: 11);
        var rng = new Random(3);
        var candidates = Enumerable.Range(0, 4).Select(_ => RandomPlan(rng, dense)).ToArray();

        var stages = PruningFixtures.Stages(PruningFixtures.Split(dense, 1, 2));
        var masked = await MaskedEvaluation.RunAsync(stages, heldOut, candidates, microBatchSize: 2, maxInFlight: 3);

        var densePpl = Perplexity.Evaluate(dense, heldOut).Perplexity;
        output.WriteLine($"dense PPL: pipeline {masked.DensePerplexity:G9}, in-process {densePpl:G9}");
        Assert.True(Math.Abs(masked.DensePerplexity - densePpl) <= 1e-6 * densePpl, $"dense PPL {masked.DensePerplexity} vs {densePpl}");
        var compactedKl = new double[candidates.Length];
        for (var c = 0; c < candidates.Length; c++)
        {
            var compacted = Compactor.CompactModel(dense, candidates[c]);
            compactedKl[c] = KlDivergence.Evaluate(dense, compacted, heldOut);
            var ppl = Perplexity.Evaluate(compacted, heldOut).Perplexity;
            output.WriteLine($"candidate {c}: KL masked {masked.Candidates[c].Kl:G9} compacted {compactedKl[c]:G9}; PPL masked {masked.Candidates[c].Perplexity:G9} compacted {ppl:G9}");
            Assert.True(Math.Abs(masked.Candidates[c].Kl - compactedKl[c]) <= 1e-5 * compactedKl[c] + 1e-7, $"candidate {c}: KL {masked.Candidates[c].Kl} vs {compactedKl[c]}");
            Assert.True(Math.Abs(masked.Candidates[c].Perplexity - ppl) <= 1e-5 * ppl, $"candidate {c}: PPL {masked.Candidates[c].Perplexity} vs {ppl}");
        }
        Assert.True(compactedKl.Distinct().Count() == candidates.Length && compactedKl.Min() > 1e-4, "candidates must differ for the test to mean anything");
        Assert.Equal(Array.IndexOf(compactedKl, compactedKl.Min()), masked.Candidates.Select(q => q.Kl).ToList().IndexOf(masked.Candidates.Min(q => q.Kl)));
    }

    [Fact]
    public async Task Placement_does_not_change_a_bit_and_the_head_holds_only_micro_batches_in_flight()
    {
        var config = PruningFixtures.Config(layers: 4);
        var dense = RandomWeights.Create(config, seed: 8, std: 0.1f);
        var heldOut = PruningFixtures.Sequences(20, 6, config.VocabSize, seed: 2);
        var rng = new Random(9);
        var candidates = Enumerable.Range(0, 3).Select(_ => RandomPlan(rng, dense)).ToArray();
        var single = PruningFixtures.Stages(dense);
        var one = await MaskedEvaluation.RunAsync(single, heldOut, candidates, microBatchSize: 2, maxInFlight: 2);
        var workers = PruningFixtures.Split(dense, 1, 3).Select(s => new ShardWorker(s)).ToArray();
        var split = workers.Select((w, i) => new LocalStage($"s{i}", w)).ToArray();
        var three = await MaskedEvaluation.RunAsync(split, heldOut, candidates, microBatchSize: 2, maxInFlight: 2);
        Assert.Equal(one.DensePerplexity, three.DensePerplexity);
        Assert.Equal(one.Candidates, three.Candidates);
        // 10 micro-batches x 4 variants, 2 steps in flight: the head never held more than 3 micro-batches' dense logits.
        output.WriteLine($"peak dense micro-batches held at the head: {workers[^1].PeakDenseMicroBatchesHeld}");
        Assert.InRange(workers[^1].PeakDenseMicroBatchesHeld, 1, 3);
    }

    [Fact]
    public async Task A_candidate_for_another_model_or_a_masked_gradient_pass_is_refused()
    {
        var config = PruningFixtures.Config(layers: 2);
        var dense = RandomWeights.Create(config, seed: 8);
        var stages = PruningFixtures.Stages(dense);
        var wrong = dense.Layers.Select(l => new LayerPlan(l.Index, l.KvHeads, l.Ffn, [0, 9], [0, 1, 2, 3, 4, 5, 6, 7], [], [])).ToArray();
        var e = await Assert.ThrowsAsync<StageFailedException>(() =>
            MaskedEvaluation.RunAsync(stages, PruningFixtures.Sequences(2, 4, config.VocabSize, 1), [wrong], 2));
        Assert.Contains("layer 0 kept_kv_groups: index 9", e.Message);
        var worker = new ShardWorker(dense);
        var ids = new int[8];
        Assert.Throws<ArgumentException>(() => worker.Forward(0, ids, null, 2, 4, ObjectiveKind.MaxLogit, 2, variant: 1));
    }

    private static LayerPlan[] RandomPlan(Random rng, LlamaShard dense) =>
        dense.Layers.Select(l => new LayerPlan(l.Index, l.KvHeads, l.Ffn,
            Subset(rng, l.KvHeads, 1 + rng.Next(l.KvHeads)), Subset(rng, l.Ffn, 8 + rng.Next(l.Ffn - 8)), [], [])).ToArray();

    private static int[] Subset(Random rng, int count, int take) =>
        Enumerable.Range(0, count).OrderBy(_ => rng.Next()).Take(take).Order().ToArray();
}
