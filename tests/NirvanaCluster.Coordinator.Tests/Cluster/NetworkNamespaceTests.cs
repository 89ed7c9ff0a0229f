using NirvanaCluster.Coordinator.Tests.Deploy;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// Nodes on their own network hosts: two network namespaces joined to the coordinator's by a bridge
/// (<see cref="PodNetwork"/>), so every process has a real, distinct address. Needs root and iproute2; elsewhere the
/// test says why it cannot run instead of passing silently.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class NetworkNamespaceTests(ITestOutputHelper output)
{
    [NetworkNamespaceFact]
    public async Task Nodes_in_separate_network_namespaces_give_the_same_plan_and_weights()
    {
        using var tiny = new TinyModel(layers: 3);
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--output", single).ExitCode);

        using var network = new PodNetwork();
        var pods = new[] { network.AddPod(), network.AddPod() };
        var port = RunningProcess.FreePort();
        using var coordinator = RunningProcess.Dotnet("nirvana.dll",
            ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2",
             "--output", tiny.PathIn("netns"), "--listen", $"{network.HostAddress}:{port}", "--expect-nodes", "2", "--join-timeout", "60"],
            TestCertificates.Environment());
        using var a = ClusterPruneTests.StartNode(port, "ns-node-0", 1L << 30, pods[0].Namespace, $"{pods[0].Address}:7701", network.HostAddress);
        using var b = ClusterPruneTests.StartNode(port, "ns-node-1", 1L << 30, pods[1].Namespace, $"{pods[1].Address}:7701", network.HostAddress);
        var code = await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3));
        output.WriteLine(coordinator.Output);
        Assert.True(code == 0, coordinator.Output);
        Assert.Contains($"joined from akka.ssl.tcp://nirvana@{pods[0].Address}:7701", coordinator.Output);
        Assert.Contains($"joined from akka.ssl.tcp://nirvana@{pods[1].Address}:7701", coordinator.Output);
        ClusterPruneTests.AssertSameModel(single, tiny.PathIn("netns"));
    }
}

/// <summary>A fact that is skipped, with the reason, where network namespaces cannot be made.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    public NetworkNamespaceFactAttribute()
    {
        if (PodNetwork.CannotRun() is { } why) Skip = why;
    }
}
