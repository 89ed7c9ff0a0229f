using Akka.Actor;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>A node as the coordinator knows it: what it said in RegisterNode, and where it is.</summary>
public sealed record NodeInfo(string Name, Address Address, string Host, int Pid, long MemoryBudgetBytes, string DataEndpoint)
{
    public override string ToString() => $"{Name} ({Address})";
}

/// <summary>
/// The registered nodes, written by the coordinator actor and read by the job: who is there, and who was lost
/// and why. Thread-safe; waiting for a number of nodes and reacting to a loss are tasks and events.
/// </summary>
public sealed class NodeDirectory
{
    private readonly object _gate = new();
    private readonly List<NodeInfo> _nodes = [];
    private readonly List<(int Count, TaskCompletionSource<IReadOnlyList<NodeInfo>> Done)> _waiting = [];

    /// <summary>Raised (outside the lock) when a registered node becomes unreachable or leaves.</summary>
    public event Action<NodeInfo, string>? Lost;

    /// <summary>Set when the job is over: nodes leaving then is the expected end, not a loss.</summary>
    public bool Closing { get; set; }

    public IReadOnlyList<NodeInfo> Nodes { get { lock (_gate) return [.. _nodes]; } }

    public NodeInfo? Find(Address address) { lock (_gate) return _nodes.FirstOrDefault(n => n.Address.Equals(address)); }

    /// <summary>Null when accepted, else why not.</summary>
    public string? TryAdd(NodeInfo node)
    {
        lock (_gate)
        {
            if (_nodes.FirstOrDefault(n => n.Address.Equals(node.Address)) is { } same) return same.Name == node.Name ? null : $"address {node.Address} is registered as {same.Name}";
            if (_nodes.FirstOrDefault(n => n.Name == node.Name) is { } clash) return $"a node named '{node.Name}' is already registered from {clash.Address}";
            _nodes.Add(node);
            Log.Information("Node {Node} joined from {Address} ({Host}, pid {Pid}), memory budget {Budget:N0} bytes, data plane {DataPlane}",
                node.Name, node.Address, node.Host, node.Pid, node.MemoryBudgetBytes, node.DataEndpoint);
            foreach (var w in _waiting.Where(w => _nodes.Count >= w.Count).ToArray())
            {
                _waiting.Remove(w);
                w.Done.TrySetResult([.. _nodes]);
            }
            return null;
        }
    }

    public void Remove(Address address, string reason)
    {
        NodeInfo? lost;
        lock (_gate)
        {
            lost = _nodes.FirstOrDefault(n => n.Address.Equals(address));
            if (lost is null) return;
            _nodes.Remove(lost);
        }
        if (Closing) Log.Debug("Node {Node} left: {Reason}", lost, reason);
        else Log.Warning("Node {Node} was lost: {Reason}", lost, reason);
        Lost?.Invoke(lost, reason);
    }

    /// <summary>Completes once <paramref name="count"/> nodes are registered.</summary>
    public Task<IReadOnlyList<NodeInfo>> WaitForAsync(int count, CancellationToken cancellation)
    {
        lock (_gate)
        {
            if (_nodes.Count >= count) return Task.FromResult<IReadOnlyList<NodeInfo>>([.. _nodes]);
            var done = new TaskCompletionSource<IReadOnlyList<NodeInfo>>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((count, done));
            return done.Task.WaitAsync(cancellation);
        }
    }

    public int Count { get { lock (_gate) return _nodes.Count; } }
}
