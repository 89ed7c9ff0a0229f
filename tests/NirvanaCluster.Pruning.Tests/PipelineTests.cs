using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Tests;

public class PipelineTests
{
    [Fact]
    public async Task Split_stages_give_bitwise_the_same_scores_as_one_stage()
    {
        var config = PruningFixtures.Config(layers: 4);
        var whole = RandomWeights.Create(config, seed: 13, std: 0.1f);
        var sequences = PruningFixtures.Sequences(6, 8, config.VocabSize, 2);
        var one = await Scores(PruningFixtures.Stages(whole), sequences);
        var three = await Scores(PruningFixtures.Stages(PruningFixtures.Split(whole, 1, 3)), sequences);
        for (var l = 0; l < one.Length; l++)
        {
            Assert.Equal(one[l].Attention, three[l].Attention);
            Assert.Equal(one[l].Mlp, three[l].Mlp);
        }
    }

    [Fact]
    public async Task A_smaller_last_micro_batch_in_flight_beside_full_ones_changes_nothing()
    {
        // 7 sequences in micro-batches of 2: the last holds 1, and reaches stage 0 while full ones there still wait
        // for their backward (a real run with --samples 30 --micro-batch 4 does the same).
        var config = PruningFixtures.Config(layers: 3);
        var whole = RandomWeights.Create(config, seed: 4);
        var sequences = PruningFixtures.Sequences(7, 8, config.VocabSize, 6);
        var one = await Scores(PruningFixtures.Stages(whole), sequences);
        var three = await Scores(PruningFixtures.Stages(PruningFixtures.Split(whole, 1, 2)), sequences);
        Assert.Equal(one.SelectMany(s => s.Attention.Concat(s.Mlp)), three.SelectMany(s => s.Attention.Concat(s.Mlp)));
    }

    [Fact]
    public async Task Micro_batch_size_changes_scores_only_by_rounding()
    {
        var config = PruningFixtures.Config(layers: 2);
        var whole = RandomWeights.Create(config, seed: 13, std: 0.1f);
        var sequences = PruningFixtures.Sequences(6, 8, config.VocabSize, 2);
        var a = await Scores(PruningFixtures.Stages(whole), sequences, microBatch: 1);
        var b = await Scores(PruningFixtures.Stages(whole), sequences, microBatch: 6);
        for (var l = 0; l < a.Length; l++)
            for (var i = 0; i < a[l].Mlp.Length; i++)
                Assert.True(Math.Abs(a[l].Mlp[i] - b[l].Mlp[i]) <= 1e-4 * Math.Abs(a[l].Mlp[i]) + 1e-9, $"layer {l} neuron {i}: {a[l].Mlp[i]} vs {b[l].Mlp[i]}");
    }

    [Fact]
    public async Task A_failing_stage_fails_the_pass_with_its_name_instead_of_hanging()
    {
        var config = PruningFixtures.Config(layers: 2);
        var whole = RandomWeights.Create(config, seed: 1);
        var stages = PruningFixtures.Stages(PruningFixtures.Split(whole, 1));
        var bad = PruningFixtures.Sequences(4, 8, config.VocabSize, 2);
        bad[2][3] = config.VocabSize + 5; // an id outside the vocabulary fails in the first stage's embedding
        var e = await Assert.ThrowsAsync<StageFailedException>(() =>
            PipelineRunner.RunAsync(stages, bad, 1, ObjectiveKind.MaxLogit).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("local-0", e.Stage);
        Assert.Contains("outside the vocabulary", e.Message);
    }

    [Fact]
    public async Task Evaluation_pass_returns_each_sequence_nll()
    {
        var config = PruningFixtures.Config(layers: 2);
        var whole = RandomWeights.Create(config, seed: 1);
        var sequences = PruningFixtures.Sequences(5, 8, config.VocabSize, 2);
        var split = await PipelineRunner.RunAsync(PruningFixtures.Stages(PruningFixtures.Split(whole, 1)), sequences, 2, ObjectiveKind.SequenceNll);
        var single = await PipelineRunner.RunAsync(PruningFixtures.Stages(whole), sequences, 5, ObjectiveKind.SequenceNll);
        Assert.Equal(5, split.SequenceNll.Length);
        for (var i = 0; i < 5; i++) Assert.Equal(single.SequenceNll[i], split.SequenceNll[i], 4);
        Assert.All(split.SequenceNll, v => Assert.InRange(v / 7, 0.5 * Math.Log(config.VocabSize), 2 * Math.Log(config.VocabSize)));
    }

    private static async Task<LayerScores[]> Scores(IReadOnlyList<IStage> stages, int[][] sequences, int microBatch = 2)
    {
        await PipelineRunner.RunAsync(stages, sequences, microBatch, ObjectiveKind.MaxLogit);
        var parts = await Task.WhenAll(stages.Select(s => s.ScoresAsync(PruningMethod.Nirvana, 0, default)));
        return parts.SelectMany(p => p).ToArray();
    }
}
