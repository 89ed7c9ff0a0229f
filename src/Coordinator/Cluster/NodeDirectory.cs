using Akka.Actor;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>A node as the coordinator knows it: what it said in RegisterNode, and where it is.</summary>
public sealed record NodeInfo(string Name, Address Address, string Host, int Pid, long MemoryBudgetBytes, string DataEndpoint)
{
    public override string ToString() => $"{Name} ({Address})";
}

/// <summary>How a node was lost: it fell silent (it may still come back), or it left the cluster for good.</summary>
public enum LossKind
{
    Unreachable,
    Removed,
}

/// <summary>
/// The registered nodes, written by the coordinator actor and read by the job: who is there and reachable, and who
/// was lost and why. Thread-safe; waiting for a number of nodes and reacting to a loss are tasks and events. A node
/// that falls silent while the job gathers its nodes is not counted until it answers again.
/// </summary>
public sealed class NodeDirectory
{
    private readonly object _gate = new();
    private readonly List<NodeInfo> _nodes = [];
    private readonly HashSet<Address> _unreachable = [];
    private readonly List<(int Count, TaskCompletionSource<IReadOnlyList<NodeInfo>> Done)> _waiting = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Raised (outside the lock) when a registered node becomes unreachable or leaves.</summary>
    public event Action<NodeInfo, LossKind, string>? Lost;

    /// <summary>Raised (outside the lock) when a registered node that was unreachable answers again.</summary>
    public event Action<NodeInfo>? Back;

    /// <summary>Set when the job is over: nodes leaving then is the expected end, not a loss.</summary>
    public bool Closing { get; set; }

    /// <summary>Registered nodes that are reachable now.</summary>
    public IReadOnlyList<NodeInfo> Nodes { get { lock (_gate) return Available(); } }

    public int Count { get { lock (_gate) return Available().Count; } }

    public NodeInfo? Find(Address address) { lock (_gate) return _nodes.FirstOrDefault(n => n.Address.Equals(address)); }

    /// <summary>Whether the node at <paramref name="address"/> is registered and not unreachable now.</summary>
    public bool IsReachable(Address address) { lock (_gate) return _nodes.Any(n => n.Address.Equals(address)) && !_unreachable.Contains(address); }

    private List<NodeInfo> Available() => _nodes.Where(n => !_unreachable.Contains(n.Address)).ToList();

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
            ReleaseWaiters();
            return null;
        }
    }

    public void MarkUnreachable(Address address, string reason)
    {
        NodeInfo? node;
        lock (_gate)
        {
            node = _nodes.FirstOrDefault(n => n.Address.Equals(address));
            if (node is null || !_unreachable.Add(address)) return;
        }
        Report(node, LossKind.Unreachable, reason);
    }

    public void MarkReachable(Address address)
    {
        NodeInfo node;
        lock (_gate)
        {
            if (!_unreachable.Remove(address)) return;
            node = _nodes.First(n => n.Address.Equals(address));
            Log.Information("Node {Node} is reachable again", node);
            ReleaseWaiters();
        }
        Back?.Invoke(node);
    }

    public void Remove(Address address, string reason)
    {
        NodeInfo? node;
        lock (_gate)
        {
            node = _nodes.FirstOrDefault(n => n.Address.Equals(address));
            if (node is null) return;
            _nodes.Remove(node);
            _unreachable.Remove(address);
        }
        Report(node, LossKind.Removed, reason);
    }

    private void Report(NodeInfo node, LossKind kind, string reason)
    {
        if (Closing) Log.Debug("Node {Node}: {Reason}", node, reason);
        else Log.Warning("Node {Node} was lost: {Reason}", node, reason);
        Lost?.Invoke(node, kind, reason);
    }

    /// <summary>Completes the next time a node registers or becomes reachable again.</summary>
    public Task WaitForChangeAsync(CancellationToken cancellation)
    {
        lock (_gate) return _changed.Task.WaitAsync(cancellation);
    }

    private void ReleaseWaiters()
    {
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var available = Available();
        foreach (var w in _waiting.Where(w => available.Count >= w.Count).ToArray())
        {
            _waiting.Remove(w);
            w.Done.TrySetResult(available);
        }
    }

    /// <summary>Completes once <paramref name="count"/> registered nodes are reachable.</summary>
    public Task<IReadOnlyList<NodeInfo>> WaitForAsync(int count, CancellationToken cancellation)
    {
        lock (_gate)
        {
            var available = Available();
            if (available.Count >= count) return Task.FromResult<IReadOnlyList<NodeInfo>>(available);
            var done = new TaskCompletionSource<IReadOnlyList<NodeInfo>>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((count, done));
            return done.Task.WaitAsync(cancellation);
        }
    }
}
