using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Serilog;

namespace NirvanaCluster.Clustering.Placement;

/// <summary>
/// Allocates each stage's shard to the region on the node the <see cref="StagePlacement"/> names, and never
/// rebalances: a stage holds gigabytes of weights and moves only when its node is lost. While the named node's
/// region is not registered (a node still starting, or the home of a lost node's stage not yet rewritten: the shard
/// coordinator asks again for a terminated region's shards at once), allocation answers null, which the shard
/// coordinator retries at the next request; a shard with no placement at all is never allocated.
/// </summary>
public sealed class PartitionAllocationStrategy(StagePlacement placement) : IShardAllocationStrategy
{
    private static readonly ILogger Log = Serilog.Log.ForContext<PartitionAllocationStrategy>();
    private static readonly Task<IImmutableSet<string>> NoRebalance = Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);

    /// <summary>How long a "not now" answer takes: the shard coordinator is not asked again in a busy loop.</summary>
    public static readonly TimeSpan NotNowDelay = TimeSpan.FromMilliseconds(200);

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        if (!placement.TryGetHome(shardId, out var home))
        {
            Log.Warning("Stage {Stage} has no placement; it is not allocated", shardId);
            return NotNow();
        }
        var region = currentShardAllocations.Keys.FirstOrDefault(r => r.Path.Address.Equals(home));
        if (region is not null) return Task.FromResult(region);
        Log.Debug("Stage {Stage}: region of {Node} not registered; allocation retried", shardId, home);
        return NotNow();
    }

    /// <summary>
    /// Null, but never as an already completed task: Akka.NET 1.5's shard coordinator takes a completed result as a
    /// region and looks it up (a null key throws inside the coordinator, which then stops answering); only a result
    /// that arrives later goes through its "allocation failed, retried" path.
    /// </summary>
    private static async Task<IActorRef> NotNow()
    {
        await Task.Delay(NotNowDelay);
        return null!;
    }

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations,
        IImmutableSet<string> rebalanceInProgress) => NoRebalance;
}
