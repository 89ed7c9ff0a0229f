using Akka.Actor;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>Where a lost stage can be re-created, and how long to wait for such a place.</summary>
public sealed record RecoveryOptions
{
    public int MaxRecoveries { get; init; } = 3;
    public TimeSpan RejoinTimeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>How long after a node falls silent the split-brain resolver has removed it, at the latest.</summary>
    public TimeSpan RemovalWithin { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// Finds a node with the memory budget for a lost stage: a registered node that holds no stage, else a surviving
/// node whose budget has room for this stage beside its own, else (with <c>--nodes</c>) a replacement local
/// process, else whatever node registers within the rejoin timeout (a restarted StatefulSet pod).
/// </summary>
public sealed class StageHomes(NodeDirectory directory, LocalNodeProcesses? localNodes, RecoveryOptions options,
    Func<IReadOnlyDictionary<Address, long>> occupancy)
{
    public RecoveryOptions Options { get; } = options;

    /// <param name="need">the stage's estimated bytes</param>
    /// <param name="lost">the address the stage was lost at (its bytes there no longer count)</param>
    public async Task<NodeInfo> FindAsync(string stage, long need, Address lost, CancellationToken cancellation)
    {
        IReadOnlyDictionary<Address, long> hosted = occupancy().Where(p => !p.Key.Equals(lost)).ToDictionary(p => p.Key, p => p.Value);
        var tried = new List<string>();
        NodeInfo? Pick()
        {
            var nodes = directory.Nodes;
            var spare = nodes.Where(n => !hosted.ContainsKey(n.Address) && n.MemoryBudgetBytes >= need).OrderBy(n => n.Name, StringComparer.Ordinal).FirstOrDefault();
            if (spare is not null) return spare;
            return nodes.Where(n => hosted.TryGetValue(n.Address, out var used) && n.MemoryBudgetBytes - used >= need)
                .OrderByDescending(n => n.MemoryBudgetBytes - hosted[n.Address]).ThenBy(n => n.Name, StringComparer.Ordinal).FirstOrDefault();
        }
        string Describe() => string.Join("; ", directory.Nodes.Select(n =>
            $"{n.Name}: budget {Gib(n.MemoryBudgetBytes)}, {Gib(hosted.GetValueOrDefault(n.Address))} in use"));

        if (Pick() is { } now) return now;
        hosted = occupancy().Where(p => !p.Key.Equals(lost)).ToDictionary(p => p.Key, p => p.Value);
        tried.Add($"the {directory.Count} reachable node(s) ({Describe()}) have no room for {Gib(need)}");
        if (localNodes is not null)
        {
            var name = localNodes.StartReplacement();
            tried.Add($"started replacement local node {name}");
        }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        wait.CancelAfter(Options.RejoinTimeout);
        try
        {
            while (true)
            {
                await directory.WaitForChangeAsync(wait.Token);
                if (Pick() is { } later) return later;
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            tried.Add($"waited {Options.RejoinTimeout.TotalSeconds:F0} s (--rejoin-timeout) for a node with room to join");
            throw new NoHomeException($"no node has room for stage {stage} ({Gib(need)}): {string.Join("; then ", tried)}");
        }
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}

public sealed class NoHomeException(string message) : Exception(message);
