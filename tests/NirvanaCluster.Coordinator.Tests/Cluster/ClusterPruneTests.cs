using System.Text.Json;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>The cluster modes through the real programs: same answer anywhere, bigger than a node, failures are answers.</summary>
[Collection(ClusterProcesses.Name)]
public class ClusterPruneTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> SecretEnv = TestCertificates.Environment();

    private static string[] PruneArgs(TinyModel tiny, string output) =>
        ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--output", output];

    [Fact]
    public void One_process_and_local_node_processes_give_identical_plans_and_weights()
    {
        using var tiny = new TinyModel(layers: 3);
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run(PruneArgs(tiny, single)).ExitCode);
        foreach (var nodes in new[] { 2, 3 })
        {
            var clustered = tiny.PathIn($"nodes{nodes}");
            var r = CliRunner.Run([.. PruneArgs(tiny, clustered), "--nodes", nodes.ToString()]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Equal(nodes, r.Stderr.Split('\n').Count(l => l.Contains("joined from")));
            AssertSameModel(single, clustered);
        }
        // The layer-bounded schedule on every node gives the same bytes too.
        var bounded = tiny.PathIn("nodes2-bounded");
        var lb = CliRunner.Run([.. PruneArgs(tiny, bounded), "--nodes", "2", "--schedule", "layer-bounded"]);
        Assert.True(lb.ExitCode == 0, lb.Stderr);
        Assert.Equal(2, lb.Stderr.Split('\n').Count(l => l.Contains("memory: schedule layer-bounded, planned")));
        AssertSameModel(single, bounded);
        var shared = tiny.PathIn("shared");
        var s = CliRunner.Run([.. PruneArgs(tiny, shared), "--nodes", "2", "--shared-output"]);
        Assert.True(s.ExitCode == 0, s.Stderr);
        Assert.True(File.Exists(Path.Combine(shared, "model.safetensors.index.json")));
        AssertSameTensors(single, shared);
    }

    [Fact]
    public async Task A_model_bigger_than_any_node_succeeds_split_across_nodes()
    {
        using var tiny = new TinyModel(layers: 4, adjust: c => c with { HiddenSize = 256, IntermediateSize = 1024, NumAttentionHeads = 4, NumKeyValueHeads = 2, VocabSize = 4000 });
        // Budget each node for half of the model (the planner's own figure), under the whole job's need with either schedule.
        var config = tiny.Config;
        var pass = new Pruning.Pipeline.PassShape(2, 16, 8);
        Pruning.Pipeline.StageNeed Need(int first, int end) => Pruning.Pipeline.StageMemoryModel.Need(config, new Pruning.Pipeline.StageExtent(first, end, first == 0, end == 4, 4), pass);
        var budget = Math.Max(Need(0, 2).AllLayersBytes, Need(2, 4).AllLayersBytes) + (64L << 10);
        Assert.True(budget < Need(0, 4).LayerBoundedBytes, $"budget {budget:N0}, whole model {Need(0, 4).LayerBoundedBytes:N0}");
        var port = RunningProcess.FreePort();
        using var coordinator = RunningProcess.Dotnet("nirvana.dll", [.. PruneArgs(tiny, tiny.PathIn("out")), "--listen", $"127.0.0.1:{port}", "--expect-nodes", "2"], SecretEnv);
        using var node1 = StartNode(port, "small-a", budget);
        using var node2 = StartNode(port, "small-b", budget);
        Assert.True(await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3)) == 0, coordinator.Output);
        output.WriteLine(coordinator.Output);
        Assert.Contains("Stage small-a: layers [0, 2) + embedding", coordinator.Output);
        Assert.Contains("Stage small-b: layers [2, 4) + head", coordinator.Output);
        Assert.True(Directory.Exists(tiny.PathIn("out")));

        // One such node alone cannot hold the model: the job says so instead of trying.
        var port2 = RunningProcess.FreePort();
        using var alone = RunningProcess.Dotnet("nirvana.dll", [.. PruneArgs(tiny, tiny.PathIn("alone")), "--listen", $"127.0.0.1:{port2}", "--expect-nodes", "1"], SecretEnv);
        using var node3 = StartNode(port2, "small-c", budget);
        Assert.NotEqual(0, await alone.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains("does not fit", alone.Output);
        Assert.False(Directory.Exists(tiny.PathIn("alone")));
    }

    [Theory]
    [InlineData("KILL", "was lost")]
    [InlineData("STOP", "was lost")]
    public async Task Without_recovery_a_node_that_dies_or_freezes_mid_job_fails_the_job_naming_it_without_output(string signal, string expected)
    {
        using var tiny = new TinyModel(layers: 2, adjust: c => c with { HiddenSize = 128, IntermediateSize = 512, VocabSize = 2000 });
        var rows = Enumerable.Range(0, 256).Select(i => Enumerable.Range(0, 64).Select(t => (i * 31 + t * 7) % 2000).ToArray()).ToArray();
        File.WriteAllText(tiny.Tokens, JsonSerializer.Serialize(rows)); // enough micro-batches to be mid-pass when the node goes
        var port = RunningProcess.FreePort();
        using var coordinator = RunningProcess.Dotnet("nirvana.dll",
            ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--micro-batch", "1", "--output", tiny.PathIn("out"),
             "--listen", $"127.0.0.1:{port}", "--expect-nodes", "2", "--heartbeat-timeout", "2", "--max-recoveries", "0"], SecretEnv);
        using var first = StartNode(port, "node-a", 1L << 30);
        using var second = StartNode(port, "node-b", 1L << 30);
        await coordinator.WaitForLineAsync(l => l.Contains("calibration: "), TimeSpan.FromMinutes(2));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        second.Signal(signal);
        var code = await coordinator.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"coordinator exited {code} {clock.Elapsed.TotalSeconds:F1} s after SIG{signal}");
        output.WriteLine(coordinator.Output);
        Assert.NotEqual(0, code);
        var error = coordinator.Output.Split('\n').Single(l => l.StartsWith("nirvana: error:", StringComparison.Ordinal));
        Assert.Contains("node-b", error);
        Assert.Contains(expected, error);
        Assert.Matches("during (forward|backward)", error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"detected after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.False(Directory.Exists(tiny.PathIn("out")));
        Assert.Equal(["model"], Directory.GetDirectories(tiny.Root).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_node_with_another_certificate_cannot_join()
    {
        using var tiny = new TinyModel(layers: 2);
        var port = RunningProcess.FreePort();
        using var coordinator = RunningProcess.Dotnet("nirvana.dll", [.. PruneArgs(tiny, tiny.PathIn("out")), "--listen", $"127.0.0.1:{port}", "--expect-nodes", "1", "--join-timeout", "15"], SecretEnv);
        await coordinator.WaitForLineAsync(l => l.Contains("Coordinator listening"), TimeSpan.FromMinutes(1));
        using var intruder = RunningProcess.Dotnet("nirvana-node.dll", ["--coordinator", $"127.0.0.1:{port}", "--listen", "127.0.0.1:0", "--health-port", "0", "--name", "intruder", "--join-timeout", "8"],
            TestCertificates.Environment(TestCertificates.Stranger));
        Assert.NotEqual(0, await coordinator.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        output.WriteLine(coordinator.Output);
        output.WriteLine(intruder.Output);
        Assert.Contains("only 0 of 1 node(s) joined", coordinator.Output);
        Assert.Contains("Certificate pinning failed", coordinator.Output); // refused in the TLS handshake, and logged
        Assert.NotEqual(0, await intruder.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.False(Directory.Exists(tiny.PathIn("out")));
    }

    internal static RunningProcess StartNode(int coordinatorPort, string name, long memory, string? netns = null, string listen = "127.0.0.1:0", string host = "127.0.0.1") =>
        RunningProcess.Dotnet("nirvana-node.dll",
            ["--coordinator", $"{host}:{coordinatorPort}", "--listen", listen, "--health-port", "0", "--name", name, "--memory", memory.ToString(), "--heartbeat-timeout", "2"],
            TestCertificates.Environment(), netns);

    internal static void AssertSameModel(string expected, string actual)
    {
        Assert.Equal(File.ReadAllBytes(Path.Combine(expected, "model.safetensors")), File.ReadAllBytes(Path.Combine(actual, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(expected, "config.json")), File.ReadAllText(Path.Combine(actual, "config.json")));
        using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(expected, "pruning-plan.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(actual, "pruning-plan.json")));
        Assert.Equal(a.RootElement.GetProperty("layers").GetRawText(), b.RootElement.GetProperty("layers").GetRawText());
    }

    /// <summary>Tensor bytes equal whatever the file layout (one file or one per node).</summary>
    internal static void AssertSameTensors(string expected, string actual)
    {
        using var a = Engine.Checkpoints.Checkpoint.Open(expected);
        using var b = Engine.Checkpoints.Checkpoint.Open(actual);
        Assert.Equal(a.TensorNames.Order(), b.TensorNames.Order());
        foreach (var name in a.TensorNames)
            Assert.Equal(a.ReadFloat32(name), b.ReadFloat32(name));
    }
}
