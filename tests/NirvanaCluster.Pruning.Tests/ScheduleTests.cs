using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Tests.Support;
using Xunit.Abstractions;

namespace NirvanaCluster.Pruning.Tests;

/// <summary>
/// The layer-bounded schedule gives bitwise the scores, plan and pruned bytes of the all-layers one (same micro-batch
/// order), for NIRVANA's objective and the LM loss, on one stage and split across stages, with an uneven last
/// micro-batch, and with the two schedules mixed along the pipeline.
/// </summary>
public class ScheduleTests(ITestOutputHelper output)
{
    private static readonly StageSchedule[] AllLayers = [StageSchedule.AllLayers];
    private static readonly StageSchedule[] Bounded = [StageSchedule.LayerBounded];

    public static TheoryData<string> Methods => new() { "nirvana", "taylor-loss" };

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task Layer_bounded_scores_and_pruned_bytes_equal_the_all_layers_ones_bit_for_bit(string methodName)
    {
        var method = PruningMethods.Parse(methodName);
        var config = PruningFixtures.Config(layers: 4) with { TieWordEmbeddings = false };
        var whole = RandomWeights.Create(config, seed: 21, std: 0.1f, storage: DType.BF16);
        var sequences = PruningFixtures.Sequences(7, 8, config.VocabSize, 4); // micro-batches of 2: the last holds one sequence
        var reference = await JobRun.RunAsync(config, PruningFixtures.Stages(AllLayers, whole), sequences, method, DType.BF16);

        var oneStage = await JobRun.RunAsync(config, PruningFixtures.Stages(Bounded, whole), sequences, method, DType.BF16);
        oneStage.AssertSameAs(reference, "one layer-bounded stage");
        var split = PruningFixtures.Split(whole, 1, 3);
        var three = await JobRun.RunAsync(config, PruningFixtures.Stages(Bounded, split), sequences, method, DType.BF16);
        three.AssertSameAs(reference, "three layer-bounded stages");
        // Bounded first stages under an all-layers head: the head sends per-micro-batch gradients, the others buffer them.
        var mixed = await JobRun.RunAsync(config, PruningFixtures.Stages([StageSchedule.LayerBounded, StageSchedule.LayerBounded, StageSchedule.AllLayers],
            PruningFixtures.Split(whole, 1, 3)), sequences, method, DType.BF16);
        mixed.AssertSameAs(reference, "layer-bounded stages before an all-layers head");
        var micro1 = await JobRun.RunAsync(config, PruningFixtures.Stages(Bounded, PruningFixtures.Split(whole, 2)), sequences, method, DType.BF16, microBatch: 1);
        var micro1Reference = await JobRun.RunAsync(config, PruningFixtures.Stages(AllLayers, whole), sequences, method, DType.BF16, microBatch: 1);
        micro1.AssertSameAs(micro1Reference, "micro-batches of one");
        output.WriteLine($"{methodName}: plans and {reference.Tensors.Count} tensors byte-identical across schedules and splits");
    }

    [Fact]
    public async Task An_all_layers_stage_before_a_layer_bounded_one_fails_naming_the_fix()
    {
        var config = PruningFixtures.Config(layers: 2);
        var whole = RandomWeights.Create(config, seed: 3);
        var stages = PruningFixtures.Stages([StageSchedule.AllLayers, StageSchedule.LayerBounded], PruningFixtures.Split(whole, 1));
        var e = await Assert.ThrowsAsync<StageFailedException>(() =>
            PipelineRunner.RunAsync(stages, PruningFixtures.Sequences(4, 8, config.VocabSize, 1), 2, ObjectiveKind.MaxLogit).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("local-0", e.Stage);
        Assert.True(e.Message.Contains("must too"), e.Message);
    }

    [Fact]
    public async Task Scores_before_the_last_gradient_are_refused_and_a_new_pass_starts_clean()
    {
        var config = PruningFixtures.Config(layers: 2);
        var whole = RandomWeights.Create(config, seed: 3);
        var worker = new ShardWorker(whole, StageSchedule.LayerBounded);
        worker.BeginPass();
        var seqs = PruningFixtures.Sequences(4, 8, config.VocabSize, 1);
        var first = worker.Forward(0, seqs[0].Concat(seqs[1]).ToArray(), null, 2, 8, ObjectiveKind.MaxLogit, 4);
        Assert.Empty(first.Tensor); // deferred: the sweep needs the last micro-batch
        Assert.Throws<InvalidOperationException>(() => worker.Scores(PruningMethod.Nirvana, 0));
        worker.Forward(1, seqs[2].Concat(seqs[3]).ToArray(), null, 2, 8, ObjectiveKind.MaxLogit, 4);
        var scores = worker.Scores(PruningMethod.Nirvana, 0);
        Assert.Same(scores, worker.Scores(PruningMethod.TaylorLoss, 0)); // the pass's gradient scores, computed once
        Assert.Equal("layer-bounded", worker.Memory.Schedule);
        Assert.True(worker.Memory.PlannedBytes > 0);

        // The same worker, switched to all-layers for the next pass, gives the same scores.
        worker.Schedule = StageSchedule.AllLayers;
        worker.BeginPass();
        worker.Forward(0, seqs[0].Concat(seqs[1]).ToArray(), null, 2, 8, ObjectiveKind.MaxLogit, 4);
        worker.Forward(1, seqs[2].Concat(seqs[3]).ToArray(), null, 2, 8, ObjectiveKind.MaxLogit, 4);
        var again = worker.Scores(PruningMethod.Nirvana, 0);
        for (var l = 0; l < scores.Length; l++)
        {
            Assert.Equal(scores[l].Attention, again[l].Attention);
            Assert.Equal(scores[l].Mlp, again[l].Mlp);
        }
    }
}
