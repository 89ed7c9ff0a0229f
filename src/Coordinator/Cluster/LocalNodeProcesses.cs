using System.Diagnostics;
using System.Globalization;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>`--nodes N`: N nirvana-node processes on loopback, started beside this program and stopped with it.</summary>
public sealed class LocalNodeProcesses : IAsyncDisposable
{
    private readonly List<Process> _processes = [];

    public IReadOnlyList<Process> Processes => _processes;

    public static LocalNodeProcesses Start(int count, string coordinator, long memoryPerNode, string certificateFile, TimeSpan heartbeatTimeout, bool verbose)
    {
        var nodes = new LocalNodeProcesses();
        try
        {
            for (var i = 0; i < count; i++)
            {
                List<string> args = ["--coordinator", coordinator, "--listen", "127.0.0.1:0", "--health-port", "0",
                    "--memory", memoryPerNode.ToString(CultureInfo.InvariantCulture), "--name", $"local-node-{i}", "--join-timeout", "60",
                    "--certificate", certificateFile, "--heartbeat-timeout", heartbeatTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)];
                // The nodes share this machine's cores; each taking all of them would only make them wait for each other.
                args.AddRange(["--threads", Math.Max(1, Environment.ProcessorCount / count).ToString(CultureInfo.InvariantCulture)]);
                if (verbose) args.Add("--verbose");
                var psi = NodeCommand(args);
                var process = Process.Start(psi) ?? throw new InvalidOperationException("nirvana-node did not start");
                var name = $"local-node-{i}";
                process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Log.Debug("[{Node}] {Line}", name, line); };
                process.OutputDataReceived += (_, e) => { if (e.Data is { } line) Log.Debug("[{Node}] {Line}", name, line); };
                process.BeginErrorReadLine();
                process.BeginOutputReadLine();
                nodes._processes.Add(process);
            }
            Log.Information("Started {Count} local nirvana-node processes (pids {Pids})", count, string.Join(", ", nodes._processes.Select(p => p.Id)));
            return nodes;
        }
        catch
        {
            nodes.KillAll();
            throw;
        }
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
        foreach (var p in _processes)
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        // Nodes exit by themselves once the coordinator is gone; give them a moment, then make sure.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        foreach (var p in _processes)
            try { await p.WaitForExitAsync(grace.Token); } catch (OperationCanceledException) { break; }
        KillAll();
        foreach (var p in _processes) p.Dispose();
    }
}
