using Akka.Actor;
using Akka.Configuration;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Stage;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// The actor pipeline (stage actors, activations stage to stage over the data plane) against the in-process oracle
/// (<see cref="InProcessPipeline"/>): the same objective, scores, NLL and compacted tensors, bit for bit, whether the
/// data plane is in memory or real loopback TCP.
/// </summary>
public sealed class ClusterPipelineTests() : Akka.TestKit.Xunit2.TestKit(ConfigurationFactory.ParseString("akka.loglevel = WARNING"))
{
    private static readonly (int First, int End)[] Split = [(0, 1), (1, 3), (3, 4)];

    [Theory]
    [InlineData(false, PruningMethod.Nirvana)]
    [InlineData(true, PruningMethod.Nirvana)]
    [InlineData(true, PruningMethod.TaylorLoss)]
    public async Task Stage_actors_give_the_oracles_results_bit_for_bit(bool overTcp, PruningMethod method)
    {
        using var tiny = new TinyModel(layers: 4, seed: 3);
        var rng = new Random(5);
        var sequences = Enumerable.Range(0, 7).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray()).ToArray();
        var objective = ObjectiveKinds.For(method);

        using var checkpoint = Checkpoint.Open(tiny.ModelDir);
        await using var oracle = new InProcessPipeline(Split.Select((r, i) => new LocalStage($"local-{i}",
            new ShardWorker(ShardLoader.Load(checkpoint, r.First, r.End, i == 0, i == Split.Length - 1)))).ToArray());
        await using IDataPlane dataPlane = overTcp ? TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1", chunkSize: 1000) : new InMemoryDataPlane();
        var actors = Split.Select((_, i) => Sys.ActorOf(StageActor.Props(dataPlane, $"node-{i}"), $"stage-{i}-{overTcp}-{method}")).ToArray();
        var stages = Split.Select((r, i) => new StageInfo($"node-{i}", new StageDescriptor(r.First, r.End, i == 0, i == Split.Length - 1))).ToArray();
        await using var pipeline = new ClusterPipeline(Sys, new StageRefs.Direct(actors), stages, stages.Select(_ => (Address?)null).ToArray(), dataPlane, null);
        await pipeline.LoadAsync("test", tiny.ModelDir, CancellationToken.None);

        var expected = await oracle.RunPassAsync(sequences, 2, objective, 3, null, CancellationToken.None);
        var actual = await pipeline.RunPassAsync(sequences, 2, objective, 3, null, CancellationToken.None);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Objective), BitConverter.DoubleToInt64Bits(actual.Objective));
        var expectedScores = await oracle.ScoresAsync(method, 0, CancellationToken.None);
        var actualScores = await pipeline.ScoresAsync(method, 0, CancellationToken.None);
        Assert.Equal(Bits(expectedScores), Bits(actualScores));

        var expectedNll = await oracle.RunPassAsync(sequences, 3, ObjectiveKind.SequenceNll, 2, null, CancellationToken.None);
        var actualNll = await pipeline.RunPassAsync(sequences, 3, ObjectiveKind.SequenceNll, 2, null, CancellationToken.None);
        Assert.Equal(expectedNll.SequenceNll.Select(BitConverter.DoubleToInt64Bits), actualNll.SequenceNll.Select(BitConverter.DoubleToInt64Bits));

        var plan = PruneJob.BuildPlan(tiny.Config, expectedScores, new PruneOptions { Sparsity = 0.4, Gamma = 1, Method = method });
        var other = PruneJob.BuildPlan(tiny.Config, expectedScores, new PruneOptions { Sparsity = 0.3, Gamma = 3, Method = method });
        var wantKl = await oracle.EvaluateMaskedAsync(sequences, [plan.Layers, other.Layers], 3, 4, null, CancellationToken.None);
        var gotKl = await pipeline.EvaluateMaskedAsync(sequences, [plan.Layers, other.Layers], 3, 4, null, CancellationToken.None);
        Assert.Equal(BitConverter.DoubleToInt64Bits(wantKl.DensePerplexity), BitConverter.DoubleToInt64Bits(gotKl.DensePerplexity));
        Assert.Equal(wantKl.Candidates.Select(c => BitConverter.DoubleToInt64Bits(c.Kl)), gotKl.Candidates.Select(c => BitConverter.DoubleToInt64Bits(c.Kl)));
        Assert.Equal(wantKl.Candidates.Select(c => BitConverter.DoubleToInt64Bits(c.MeanNll)), gotKl.Candidates.Select(c => BitConverter.DoubleToInt64Bits(c.MeanNll)));
        Assert.All(gotKl.Candidates, c => Assert.True(c.Kl > 0));
        var want = await oracle.CompactAsync(plan, CancellationToken.None).ToListAsync();
        var got = await pipeline.CompactAsync(plan, CancellationToken.None).ToListAsync();
        Assert.Equal(want.Select(t => (t.Name, string.Join(",", t.Shape))), got.Select(t => (t.Name, string.Join(",", t.Shape))));
        for (var i = 0; i < want.Count; i++)
        {
            var (w, g) = (want[i].Produce(), got[i].Produce());
            Assert.Equal(w.DType, g.DType);
            Assert.Equal(w.IsSingle ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.Single).ToArray() : System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.Half).ToArray(),
                g.IsSingle ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.Single).ToArray() : System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.Half).ToArray());
        }
    }

    /// <summary>
    /// A pass begun while a stage still has an earlier pass's steps queued (a node that paused and resumed, then was
    /// asked to redo the pass) gives exactly the results of a fresh pass: the old steps are skipped, and the stage's
    /// gradients are reset only after the step that was running when the new pass arrived.
    /// </summary>
    [Fact]
    public async Task A_pass_begun_over_an_unfinished_one_gives_the_oracles_results_bit_for_bit()
    {
        using var tiny = new TinyModel(layers: 2, seed: 4);
        var rng = new Random(6);
        var sequences = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray()).ToArray();
        using var checkpoint = Checkpoint.Open(tiny.ModelDir);
        await using var oracle = new InProcessPipeline([new LocalStage("local", new ShardWorker(ShardLoader.Load(checkpoint, 0, 2, true, true)))]);
        await using IDataPlane dataPlane = new InMemoryDataPlane();
        var actor = Sys.ActorOf(StageActor.Props(dataPlane, "node-0"), "stage-resumed");
        StageInfo[] stages = [new("node-0", new StageDescriptor(0, 2, true, true))];
        await using var pipeline = new ClusterPipeline(Sys, new StageRefs.Direct([actor]), stages, [null], dataPlane, null);
        await pipeline.LoadAsync("test", tiny.ModelDir, CancellationToken.None);

        // The abandoned pass: far more queued work than the stage does before the next BeginPass reaches it.
        const long abandoned = 1_000_000;
        var tokens = sequences.Take(4).SelectMany(s => s).ToArray();
        actor.Tell(new Messages.Pruning.BeginPass { PassId = abandoned, Objective = Messages.Pruning.Objective.MaxLogit, TotalSequences = 4 * 64, MicroBatches = 64 }, TestActor);
        for (var mb = 0; mb < 64; mb++)
        {
            var step = new Messages.Pruning.RunMicroBatch { PassId = abandoned, MicroBatch = mb, Batch = 4, Positions = 12 };
            step.Tokens.AddRange(tokens);
            actor.Tell(step, TestActor);
        }

        var expected = await oracle.RunPassAsync(sequences, 2, ObjectiveKind.MaxLogit, 3, null, CancellationToken.None);
        var actual = await pipeline.RunPassAsync(sequences, 2, ObjectiveKind.MaxLogit, 3, null, CancellationToken.None);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Objective), BitConverter.DoubleToInt64Bits(actual.Objective));
        Assert.Equal(Bits(await oracle.ScoresAsync(PruningMethod.Nirvana, 0, CancellationToken.None)),
            Bits(await pipeline.ScoresAsync(PruningMethod.Nirvana, 0, CancellationToken.None)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sampling_through_stages_gives_the_sequences_of_the_whole_model_in_one_process(bool overTcp)
    {
        using var tiny = new TinyModel(layers: 4, seed: 8);
        var whole = ShardLoader.LoadAll(tiny.ModelDir);
        int[][] prompts = [[1], [1], [1], [1], [1]];
        var expected = Engine.Model.Generator.Generate(whole, prompts, 20, temperature: 1f, seed: 17);
        int[][] longer = [[1, 7, 3], [1, 9, 4]]; // a prompt longer than one token only fills the cache at first
        var expectedLonger = Engine.Model.Generator.Generate(whole, longer, 6, temperature: 0.7f, seed: 3);

        await using IDataPlane dataPlane = overTcp ? TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1") : new InMemoryDataPlane();
        var actors = Split.Select((_, i) => Sys.ActorOf(StageActor.Props(dataPlane, $"node-{i}"), $"sampling-stage-{i}-{overTcp}")).ToArray();
        var stages = Split.Select((r, i) => new StageInfo($"node-{i}", new StageDescriptor(r.First, r.End, i == 0, i == Split.Length - 1))).ToArray();
        await using var pipeline = new ClusterPipeline(Sys, new StageRefs.Direct(actors), stages, stages.Select(_ => (Address?)null).ToArray(), dataPlane, null);
        await pipeline.LoadAsync("test", tiny.ModelDir, CancellationToken.None);
        Assert.Equal(expected, await pipeline.GenerateAsync(prompts, 20, 1f, 17, null, CancellationToken.None));
        Assert.Equal(expectedLonger, await pipeline.GenerateAsync(longer, 6, 0.7f, 3, null, CancellationToken.None));
        // And a pass afterwards still works: the stages left the decoding state cleanly.
        await pipeline.RunPassAsync(prompts.Select(p => expected[0]).ToArray(), 2, ObjectiveKind.SequenceNll, 2, null, CancellationToken.None);
    }

    [Fact]
    public async Task A_stage_that_fails_ends_the_step_naming_the_stage_and_the_operation()
    {
        using var tiny = new TinyModel(layers: 2);
        await using var dataPlane = new InMemoryDataPlane();
        var actor = Sys.ActorOf(StageActor.Props(dataPlane, "node-x"), "failing-stage");
        var stages = new[] { new StageInfo("node-x", new StageDescriptor(0, 2, true, true)) };
        await using var pipeline = new ClusterPipeline(Sys, new StageRefs.Direct([actor]), stages, [null], dataPlane, null);
        var missing = await Assert.ThrowsAsync<StageFailedException>(() => pipeline.LoadAsync("test", tiny.PathIn("no-such-model"), CancellationToken.None));
        Assert.Contains("node-x", missing.Message);
        Assert.Contains("load", missing.Message);

        await pipeline.LoadAsync("test", tiny.ModelDir, CancellationToken.None);
        // Scores of a gradient criterion before any calibration pass: the stage refuses, and says why.
        var early = await Assert.ThrowsAsync<StageFailedException>(() => pipeline.ScoresAsync(PruningMethod.Nirvana, 0, CancellationToken.None));
        Assert.Contains("scoring", early.Message);
        Assert.Contains("needs a calibration pass", early.Message);
    }

    private static long[] Bits(IReadOnlyList<LayerScores> scores) =>
        scores.SelectMany(s => s.Attention.Concat(s.Mlp)).Select(BitConverter.DoubleToInt64Bits).ToArray();
}
