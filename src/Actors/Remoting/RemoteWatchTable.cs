using NirvanaCluster.Actors.Core;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// Death watch across systems. Outbound: which local watchers watch which remote actors, so that losing a node
/// tells all of them. Inbound: which remote watchers were registered on local actors, so that losing their node
/// removes them.
/// </summary>
internal sealed class RemoteWatchTable
{
    private readonly Dictionary<Address, HashSet<(ActorRef Watchee, ActorRef Watcher)>> _outbound = [];
    private readonly Dictionary<Address, HashSet<(ActorCell Watchee, ActorRef Watcher)>> _inbound = [];

    public bool AddOutbound(ActorRef remoteWatchee, ActorRef localWatcher)
    {
        lock (_outbound)
            return GetOrAdd(_outbound, remoteWatchee.Path.Address).Add((remoteWatchee, localWatcher));
    }

    public bool RemoveOutbound(ActorRef remoteWatchee, ActorRef localWatcher)
    {
        lock (_outbound)
            return _outbound.TryGetValue(remoteWatchee.Path.Address, out var set) && set.Remove((remoteWatchee, localWatcher));
    }

    public void AddInbound(ActorCell localWatchee, ActorRef remoteWatcher)
    {
        lock (_inbound)
            GetOrAdd(_inbound, remoteWatcher.Path.Address).Add((localWatchee, remoteWatcher));
    }

    public void RemoveInbound(ActorCell localWatchee, ActorRef remoteWatcher)
    {
        lock (_inbound)
            if (_inbound.TryGetValue(remoteWatcher.Path.Address, out var set))
                set.Remove((localWatchee, remoteWatcher));
    }

    /// <summary>Tells every local watcher of an actor at <paramref name="address"/> that it is gone, and forgets the node's watchers.</summary>
    public void OnAddressLost(Address address, string reason)
    {
        HashSet<(ActorRef Watchee, ActorRef Watcher)>? outbound;
        HashSet<(ActorCell Watchee, ActorRef Watcher)>? inbound;
        lock (_outbound)
            _outbound.Remove(address, out outbound);
        lock (_inbound)
            _inbound.Remove(address, out inbound);
        foreach (var (watchee, watcher) in inbound ?? [])
            watchee.RemoveWatcher(watcher);
        foreach (var (watchee, watcher) in outbound ?? [])
            watcher.NotifyTerminated(watchee, reason);
    }

    private static HashSet<T> GetOrAdd<T>(Dictionary<Address, HashSet<T>> table, Address address)
    {
        if (!table.TryGetValue(address, out var set))
            table[address] = set = [];
        return set;
    }
}
