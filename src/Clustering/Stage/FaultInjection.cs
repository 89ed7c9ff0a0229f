using System.Diagnostics;
using System.Runtime.InteropServices;
using Serilog;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// Chaos testing of real processes: <c>NIRVANA_FAULT=kill@backward:5</c> makes this node process SIGKILL itself
/// just before it runs the backward of micro-batch 5 (<c>stop@…</c> freezes it with SIGSTOP instead). Points:
/// <c>load</c>, <c>forward:N</c>, <c>backward:N</c>, <c>scoring</c>, <c>compaction</c>. A node name in front
/// (<c>local-node-1:kill@forward:3</c>) limits it to that node, so one variable can reach every local node. The
/// recovery tests use it to lose a node at an exact step; unset, it costs one comparison per step.
/// </summary>
public static partial class FaultInjection
{
    public const string Variable = "NIRVANA_FAULT";

    private static (string Action, string Point)? Fault;
    private static int _fired;

    /// <summary>Reads the variable for the node named <paramref name="node"/>; called once when the node starts.</summary>
    public static void Configure(string node)
    {
        var spec = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(spec)) return;
        var colon = spec.IndexOf(':');
        var at = spec.IndexOf('@');
        if (colon >= 0 && colon < at)
        {
            if (spec[..colon] != node) return;
            spec = spec[(colon + 1)..];
            at = spec.IndexOf('@');
        }
        if (at < 0 || spec[..at] is not ("kill" or "stop"))
            throw new ArgumentException($"{Variable}='{spec}': expected [NODE:]kill@POINT or [NODE:]stop@POINT (POINT: load, forward:N, backward:N, scoring, compaction)");
        Fault = (spec[..at], spec[(at + 1)..]);
    }

    /// <summary>Called before each step; fires once if the step is the configured point.</summary>
    public static void At(string operation, int microBatch = -1)
    {
        if (Fault is not { } f) return;
        var point = microBatch >= 0 ? $"{operation}:{microBatch}" : operation;
        if (f.Point != point || Interlocked.Exchange(ref _fired, 1) == 1) return;
        Log.Warning("Fault injection ({Variable}): {Action} at {Point}", Variable, f.Action, point);
        Log.CloseAndFlush();
        if (f.Action == "kill") Process.GetCurrentProcess().Kill();
        else _ = Kill(Environment.ProcessId, 19); // SIGSTOP: the process freezes here until SIGCONT or SIGKILL
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
