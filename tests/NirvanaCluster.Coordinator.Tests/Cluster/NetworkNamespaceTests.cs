using System.Diagnostics;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// Nodes on their own network hosts: two network namespaces joined to the coordinator's by a bridge, so every
/// process has a real, distinct address (10.213.0.0/24, made and removed by the test). Needs root and iproute2;
/// elsewhere the test says why it cannot run instead of passing silently.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class NetworkNamespaceTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string Tag = $"{Environment.ProcessId % 10000}";
    private readonly string _bridge = $"nvbr{Tag}";
    private readonly List<string> _namespaces = [];
    private readonly List<string> _links = [];

    [NetworkNamespaceFact]
    public async Task Nodes_in_separate_network_namespaces_give_the_same_plan_and_weights()
    {
        using var tiny = new TinyModel(layers: 3);
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--output", single).ExitCode);

        Ip("link", "add", _bridge, "type", "bridge");
        _links.Add(_bridge);
        Ip("addr", "add", "10.213.0.1/24", "dev", _bridge);
        Ip("link", "set", _bridge, "up");
        var hosts = new[] { "10.213.0.2", "10.213.0.3" };
        for (var i = 0; i < hosts.Length; i++)
        {
            var ns = $"nvns{Tag}-{i}";
            var veth = $"nvv{Tag}{i}";
            Ip("netns", "add", ns);
            _namespaces.Add(ns);
            Ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
            _links.Add(veth);
            Ip("link", "set", veth, "master", _bridge);
            Ip("link", "set", veth, "up");
            Ip("netns", "exec", ns, "ip", "addr", "add", $"{hosts[i]}/24", "dev", "eth0");
            Ip("netns", "exec", ns, "ip", "link", "set", "eth0", "up");
            Ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
        }

        var port = RunningProcess.FreePort();
        using var coordinator = RunningProcess.Dotnet("nirvana.dll",
            ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2",
             "--output", tiny.PathIn("netns"), "--listen", $"10.213.0.1:{port}", "--expect-nodes", "2", "--join-timeout", "60"],
            TestCertificates.Environment());
        using var a = ClusterPruneTests.StartNode(port, "ns-node-0", 1L << 30, _namespaces[0], $"{hosts[0]}:7701", "10.213.0.1");
        using var b = ClusterPruneTests.StartNode(port, "ns-node-1", 1L << 30, _namespaces[1], $"{hosts[1]}:7701", "10.213.0.1");
        var code = await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(3));
        output.WriteLine(coordinator.Output);
        Assert.True(code == 0, coordinator.Output);
        Assert.Contains("joined from akka.ssl.tcp://nirvana@10.213.0.2:7701", coordinator.Output);
        Assert.Contains("joined from akka.ssl.tcp://nirvana@10.213.0.3:7701", coordinator.Output);
        ClusterPruneTests.AssertSameModel(single, tiny.PathIn("netns"));
    }

    internal static string? CannotRun()
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces are Linux-only";
        if (Environment.UserName != "root") return "creating network namespaces needs root";
        try
        {
            using var p = Process.Start(new ProcessStartInfo("ip", "-V") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode == 0 ? null : "iproute2's ip is not working";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "iproute2's ip is not installed";
        }
    }

    private static void Ip(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)} failed: {err}");
    }

    public void Dispose()
    {
        foreach (var link in Enumerable.Reverse(_links))
            try { Ip("link", "del", link); } catch (InvalidOperationException) { }
        foreach (var ns in _namespaces)
            try { Ip("netns", "del", ns); } catch (InvalidOperationException) { }
    }
}

/// <summary>A fact that is skipped, with the reason, where network namespaces cannot be made.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    public NetworkNamespaceFactAttribute()
    {
        if (NetworkNamespaceTests.CannotRun() is { } why) Skip = why;
    }
}
