using System.Collections.Concurrent;
using Akka.Actor;

namespace NirvanaCluster.Clustering.Placement;

/// <summary>
/// Where each stage (shard) must live: the coordinator's memory-budget partition, written before a stage is first
/// addressed and rewritten when a lost stage is re-created elsewhere. Read by the allocation strategy, which runs
/// inside the shard coordinator in the same process.
/// </summary>
public sealed class StagePlacement
{
    private readonly ConcurrentDictionary<string, Address> _homes = new(StringComparer.Ordinal);

    public void Place(string shardId, Address node) => _homes[shardId] = node;

    public bool TryGetHome(string shardId, out Address node) => _homes.TryGetValue(shardId, out node!);

    public void Forget(string shardId) => _homes.TryRemove(shardId, out _);
}
