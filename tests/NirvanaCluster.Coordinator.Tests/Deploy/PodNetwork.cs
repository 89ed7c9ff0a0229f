using System.Diagnostics;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// A pod network on this machine: each pod a network namespace with its own address on one bridge, and the cluster's
/// DNS names of the pods in every namespace's /etc/hosts (which `ip netns exec` mounts from /etc/netns/NAME/hosts).
/// The addresses (10.214.X.0/24, X from the process id and the instance, so tests running side by side do not meet)
/// and names are the test's own and are removed on Dispose. Needs root and iproute2 (<see cref="CannotRun"/>).
/// </summary>
public sealed class PodNetwork : IDisposable
{
    private static int s_instances;
    private readonly string _tag;
    private readonly string _subnet;
    private readonly string _bridge;
    private readonly List<string> _namespaces = [];
    private readonly List<string> _links = [];
    private readonly Dictionary<string, string> _hosts = [];
    private readonly bool _etcNetnsExisted = Directory.Exists("/etc/netns");

    public PodNetwork()
    {
        var instance = Interlocked.Increment(ref s_instances) % 10;
        _tag = $"{Environment.ProcessId % 10000}{instance}";
        _subnet = $"10.214.{20 + (Environment.ProcessId + 37 * instance) % 200}";
        _bridge = $"nvd{_tag}b";
        Ip("link", "add", _bridge, "type", "bridge");
        _links.Add(_bridge);
        Ip("addr", "add", $"{_subnet}.1/24", "dev", _bridge);
        Ip("link", "set", _bridge, "up");
    }

    /// <summary>This machine's address on the bridge, where a pod reaches a process outside the namespaces.</summary>
    public string HostAddress => $"{_subnet}.1";

    /// <summary>Adds a pod: its namespace and address, known in every pod's /etc/hosts by <paramref name="dnsNames"/>.</summary>
    public (string Namespace, string Address) AddPod(params string[] dnsNames)
    {
        var i = _namespaces.Count;
        var ns = $"nvd{_tag}-{i}";
        var veth = $"nvd{_tag}v{i}";
        var address = $"{_subnet}.{i + 2}";
        Ip("netns", "add", ns);
        _namespaces.Add(ns);
        Ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
        _links.Add(veth);
        Ip("link", "set", veth, "master", _bridge);
        Ip("link", "set", veth, "up");
        Ip("netns", "exec", ns, "ip", "addr", "add", $"{address}/24", "dev", "eth0");
        Ip("netns", "exec", ns, "ip", "link", "set", "eth0", "up");
        Ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
        foreach (var name in dnsNames) _hosts[name] = address;
        WriteHosts();
        return (ns, address);
    }

    private void WriteHosts()
    {
        var text = "127.0.0.1 localhost\n" + string.Concat(_hosts.Select(h => $"{h.Value} {h.Key}\n"));
        foreach (var ns in _namespaces)
        {
            Directory.CreateDirectory($"/etc/netns/{ns}");
            File.WriteAllText($"/etc/netns/{ns}/hosts", text);
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

    /// <summary>Why pod networks cannot be made here, or null when they can.</summary>
    public static string? CannotRun()
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

    public void Dispose()
    {
        foreach (var link in Enumerable.Reverse(_links))
            try { Ip("link", "del", link); } catch (InvalidOperationException) { }
        foreach (var ns in _namespaces)
        {
            try { Ip("netns", "del", ns); } catch (InvalidOperationException) { }
            try { Directory.Delete($"/etc/netns/{ns}", recursive: true); } catch (IOException) { }
        }
        if (!_etcNetnsExisted)
            try { Directory.Delete("/etc/netns"); } catch (IOException) { }
    }
}
