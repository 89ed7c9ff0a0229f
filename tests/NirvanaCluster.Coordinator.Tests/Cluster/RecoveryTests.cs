using System.Text.RegularExpressions;
using NirvanaCluster.Clustering.Stage;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// Node loss is survived with real processes: a node SIGKILLed in the forward pass, in the backward pass or while
/// streaming its compacted weights, or frozen with SIGSTOP, has its stage re-created on another node, and the job
/// writes exactly the bytes of an undisturbed in-process run. The loss is made exact with <see cref="FaultInjection"/>.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed partial class RecoveryTests(ITestOutputHelper output)
{
    private static string[] PruneArgs(TinyModel tiny, string outputDir) =>
        ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--output", outputDir];

    [Theory]
    [InlineData("local-node-1:kill@forward:2", "forward of micro-batch")]
    [InlineData("local-node-1:kill@backward:1", "backward of micro-batch")]
    [InlineData("local-node-2:kill@compaction", "compaction")]
    [InlineData("local-node-0:stop@forward:3", "micro-batch")]
    public void A_lost_node_s_stage_is_re_created_and_the_job_writes_the_undisturbed_bytes(string fault, string during)
    {
        using var tiny = new TinyModel(layers: 3);
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run(PruneArgs(tiny, single)).ExitCode);

        var recovered = tiny.PathIn("recovered");
        var r = CliRunner.RunProgram("nirvana.dll", [.. PruneArgs(tiny, recovered), "--nodes", "3", "--heartbeat-timeout", "2"],
            new Dictionary<string, string> { [FaultInjection.Variable] = fault });
        output.WriteLine(r.Stderr);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lost = r.Stderr.Split('\n').First(l => l.Contains("lost during"));
        Assert.Contains(during, lost);
        var resumed = ResumedAfter().Match(r.Stderr);
        Assert.True(resumed.Success, "no 're-created' line in the log");
        output.WriteLine($"detection to resume: {resumed.Groups[1].Value} s");
        ClusterPruneTests.AssertSameModel(single, recovered);
    }

    [Fact]
    public async Task A_node_that_joins_after_the_loss_takes_the_stage_when_no_survivor_has_room()
    {
        using var tiny = Model();
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run(PruneArgs(tiny, single)).ExitCode);
        var budget = TightBudget(tiny);
        var port = RunningProcess.FreePort();
        using var coordinator = Coordinator(tiny, port, rejoinTimeout: 90);
        using var a = ClusterPruneTests.StartNode(port, "node-a", budget);
        using var b = StartNode(port, "node-b", budget, "kill@backward:1");
        await coordinator.WaitForLineAsync(l => l.Contains("lost during"), TimeSpan.FromMinutes(3));
        using var late = ClusterPruneTests.StartNode(port, "node-c", budget); // the restarted pod, say
        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, coordinator.Output);
        output.WriteLine(coordinator.Output);
        Assert.Matches("re-created on node node-c", coordinator.Output);
        ClusterPruneTests.AssertSameModel(single, tiny.PathIn("out"));
    }

    [Fact]
    public async Task With_no_node_with_room_the_job_ends_in_an_error_saying_what_was_tried_and_writes_nothing()
    {
        using var tiny = Model();
        var budget = TightBudget(tiny);
        var port = RunningProcess.FreePort();
        using var coordinator = Coordinator(tiny, port, rejoinTimeout: 5);
        using var a = ClusterPruneTests.StartNode(port, "node-a", budget);
        using var b = StartNode(port, "node-b", budget, "kill@forward:2");
        Assert.NotEqual(0, await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3)));
        output.WriteLine(coordinator.Output);
        var error = coordinator.Output.Split('\n').Single(l => l.StartsWith("nirvana: error:", StringComparison.Ordinal));
        Assert.Contains("node-b", error);
        Assert.Contains("[2, 4)", error);
        Assert.Contains("no node has room", error);
        Assert.Contains("--rejoin-timeout", error);
        Assert.False(Directory.Exists(tiny.PathIn("out")));
    }

    [Fact]
    public async Task A_node_that_pauses_and_answers_again_keeps_its_stage_and_the_job_writes_the_undisturbed_bytes()
    {
        using var tiny = Model();
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run(PruneArgs(tiny, single)).ExitCode);
        var budget = TightBudget(tiny); // no survivor has room for the paused node's stage: recovery can only keep it
        var port = RunningProcess.FreePort();
        using var coordinator = Coordinator(tiny, port, rejoinTimeout: 5);
        using var a = ClusterPruneTests.StartNode(port, "node-a", budget);
        using var b = StartNode(port, "node-b", budget, "stop@forward:2");
        await coordinator.WaitForLineAsync(l => l.Contains("lost during"), TimeSpan.FromMinutes(3));
        b.Signal("CONT"); // well before the split-brain resolver's stable-after (4 s at --heartbeat-timeout 2) downs it
        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, coordinator.Output);
        output.WriteLine(coordinator.Output);
        Assert.Matches("Node node-b answered again [0-9.]+ s after it was reported unreachable; stage node-b \\[2, 4\\) stays there", coordinator.Output);
        Assert.DoesNotContain("re-created on node", coordinator.Output);
        ClusterPruneTests.AssertSameModel(single, tiny.PathIn("out"));
    }

    [Fact]
    public async Task Nodes_exit_when_their_coordinator_dies()
    {
        using var tiny = Model();
        var port = RunningProcess.FreePort();
        using var coordinator = Coordinator(tiny, port);
        using var a = ClusterPruneTests.StartNode(port, "node-a", 1L << 30);
        await a.WaitForLineAsync(l => l.Contains("Registered with the coordinator"), TimeSpan.FromMinutes(2));
        coordinator.Signal("KILL"); // still waiting for its second node
        var code = await a.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(a.Output);
        Assert.Equal(0, code);
        Assert.Contains("the coordinator became unreachable", a.Output);
        Assert.False(Directory.Exists(tiny.PathIn("out")));
    }

    /// <summary>A model for which a budget can hold half but not all (the runtime's share is counted per stage).</summary>
    private static TinyModel Model() =>
        new(layers: 4, adjust: c => c with { HiddenSize = 256, IntermediateSize = 1024, NumAttentionHeads = 4, NumKeyValueHeads = 2, VocabSize = 4000 });

    /// <summary>Enough for half the model on each of two nodes (the planner's own figure), not for all of it on one.</summary>
    private static long TightBudget(TinyModel tiny)
    {
        var pass = new Pruning.Pipeline.PassShape(2, 16, 8);
        Pruning.Pipeline.StageNeed Need(int first, int end) =>
            Pruning.Pipeline.StageMemoryModel.Need(tiny.Config, new Pruning.Pipeline.StageExtent(first, end, first == 0, end == 4, 4), pass);
        var budget = Math.Max(Need(0, 2).AllLayersBytes, Need(2, 4).AllLayersBytes) + (64L << 10);
        Assert.True(budget < Need(0, 4).LayerBoundedBytes, $"budget {budget:N0}, whole model {Need(0, 4).LayerBoundedBytes:N0}");
        return budget;
    }

    /// <summary>A prune of <paramref name="tiny"/> into "out" that waits on <paramref name="port"/> for two nodes.</summary>
    private static RunningProcess Coordinator(TinyModel tiny, int port, int rejoinTimeout = 120) =>
        RunningProcess.Dotnet("nirvana.dll",
            [.. PruneArgs(tiny, tiny.PathIn("out")), "--listen", $"127.0.0.1:{port}", "--expect-nodes", "2", "--heartbeat-timeout", "2",
             "--rejoin-timeout", rejoinTimeout.ToString()],
            TestCertificates.Environment());

    private static RunningProcess StartNode(int port, string name, long memory, string fault) =>
        RunningProcess.Dotnet("nirvana-node.dll",
            ["--coordinator", $"127.0.0.1:{port}", "--listen", "127.0.0.1:0", "--health-port", "0", "--name", name, "--memory", memory.ToString(), "--heartbeat-timeout", "2"],
            new Dictionary<string, string>(TestCertificates.Environment()) { [FaultInjection.Variable] = fault });

    [GeneratedRegex(@"re-created on node \S+ ([0-9.]+) s after the loss was reported")]
    private static partial Regex ResumedAfter();
}
