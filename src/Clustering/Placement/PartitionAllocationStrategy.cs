using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Serilog;

namespace NirvanaCluster.Clustering.Placement;

/// <summary>
/// Allocates each stage's shard to the region on the node the <see cref="StagePlacement"/> names, and never
/// rebalances: a stage holds gigabytes of weights and moves only when its node is lost. While the named node's
/// region has not registered yet (a node still starting), allocation answers null, which the shard coordinator
/// retries; a shard with no placement at all is never allocated.
/// </summary>
public sealed class PartitionAllocationStrategy(StagePlacement placement) : IShardAllocationStrategy
{
    private static readonly ILogger Log = Serilog.Log.ForContext<PartitionAllocationStrategy>();
    private static readonly Task<IImmutableSet<string>> NoRebalance = Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        if (!placement.TryGetHome(shardId, out var home))
        {
            Log.Warning("Stage {Stage} has no placement; it is not allocated", shardId);
            return Task.FromResult<IActorRef>(null!);
        }
        var region = currentShardAllocations.Keys.FirstOrDefault(r => r.Path.Address.Equals(home));
        if (region is null) Log.Debug("Stage {Stage}: region of {Node} not registered yet; allocation retried", shardId, home);
        return Task.FromResult(region!);
    }

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations,
        IImmutableSet<string> rebalanceInProgress) => NoRebalance;
}
