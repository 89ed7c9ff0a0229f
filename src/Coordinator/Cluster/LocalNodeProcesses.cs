using System.Diagnostics;
using System.Globalization;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// `--nodes N`: N nirvana-node processes on loopback, started beside this program and stopped with it; when one is
/// lost, a replacement can be started with the same settings.
/// </summary>
public sealed class LocalNodeProcesses : IAsyncDisposable
{
    private readonly List<Process> _processes = [];
    private readonly string _coordinator;
    private readonly long _memoryPerNode;
    private readonly string _certificateFile;
    private readonly TimeSpan _heartbeatTimeout;
    private readonly bool _verbose;
    private readonly int _threads;
    private int _replacements;

    public IReadOnlyList<Process> Processes => _processes;

    private LocalNodeProcesses(string coordinator, long memoryPerNode, string certificateFile, TimeSpan heartbeatTimeout, bool verbose, int count)
    {
        _coordinator = coordinator;
        _memoryPerNode = memoryPerNode;
        _certificateFile = certificateFile;
        _heartbeatTimeout = heartbeatTimeout;
        _verbose = verbose;
        // The nodes share this machine's cores; each taking all of them would only make them wait for each other.
        _threads = Math.Max(1, Environment.ProcessorCount / count);
    }

    public static LocalNodeProcesses Start(int count, string coordinator, long memoryPerNode, string certificateFile, TimeSpan heartbeatTimeout, bool verbose)
    {
        var nodes = new LocalNodeProcesses(coordinator, memoryPerNode, certificateFile, heartbeatTimeout, verbose, count);
        try
        {
            for (var i = 0; i < count; i++) nodes.StartOne($"local-node-{i}");
            Log.Information("Started {Count} local nirvana-node processes (pids {Pids})", count, string.Join(", ", nodes._processes.Select(p => p.Id)));
            return nodes;
        }
        catch
        {
            nodes.KillAll();
            throw;
        }
    }

    /// <summary>Starts one more node (after a loss); returns its name.</summary>
    public string StartReplacement()
    {
        var name = $"local-node-r{Interlocked.Increment(ref _replacements)}";
        var process = StartOne(name);
        Log.Information("Started replacement node {Node} (pid {Pid})", name, process.Id);
        return name;
    }

    private Process StartOne(string name)
    {
        List<string> args = ["--coordinator", _coordinator, "--listen", "127.0.0.1:0", "--health-port", "0",
            "--memory", _memoryPerNode.ToString(CultureInfo.InvariantCulture), "--name", name, "--join-timeout", "60",
            "--certificate", _certificateFile, "--heartbeat-timeout", _heartbeatTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            "--threads", _threads.ToString(CultureInfo.InvariantCulture)];
        if (_verbose) args.Add("--verbose");
        var process = Process.Start(NodeCommand(args)) ?? throw new InvalidOperationException("nirvana-node did not start");
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Log.Debug("[{Node}] {Line}", name, line); };
        process.OutputDataReceived += (_, e) => { if (e.Data is { } line) Log.Debug("[{Node}] {Line}", name, line); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        lock (_processes) _processes.Add(process);
        return process;
    }

    /// <summary>nirvana-node lives beside nirvana: its apphost when present, else its dll through the dotnet host.</summary>
    private static ProcessStartInfo NodeCommand(IEnumerable<string> args)
    {
        var dir = AppContext.BaseDirectory;
        var apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? "nirvana-node.exe" : "nirvana-node");
        var dll = Path.Combine(dir, "nirvana-node.dll");
        ProcessStartInfo psi;
        if (File.Exists(apphost)) psi = new ProcessStartInfo(apphost);
        else if (File.Exists(dll))
        {
            psi = new ProcessStartInfo("dotnet");
            psi.ArgumentList.Add(dll);
        }
        else throw new FileNotFoundException($"nirvana-node was not found beside nirvana in {dir}");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.UseShellExecute = false;
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        return psi;
    }

    private void KillAll()
    {
        lock (_processes)
            foreach (var p in _processes)
                try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        // Nodes exit by themselves once the coordinator is gone; give them a moment, then make sure (a frozen one never will).
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Process[] all;
        lock (_processes) all = [.. _processes];
        foreach (var p in all)
            try { await p.WaitForExitAsync(grace.Token); } catch (OperationCanceledException) { break; }
        KillAll();
        foreach (var p in all) p.Dispose();
    }
}
