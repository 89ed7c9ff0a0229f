using System.Collections.Immutable;
using Akka.Actor;
using NirvanaCluster.Clustering.Placement;

namespace NirvanaCluster.Cluster.Tests.Stage;

/// <summary>Stages go where the partition says, wait when that node's region is not there yet, and never move by themselves.</summary>
public sealed class PartitionAllocationStrategyTests() : Akka.TestKit.Xunit2.TestKit(AkkaConfigs.Local())
{
    [Fact]
    public async Task A_stage_is_allocated_to_the_region_of_its_placed_node_only()
    {
        var placement = new StagePlacement();
        var strategy = new PartitionAllocationStrategy(placement);
        var here = CreateTestProbe().Ref;
        var regions = ImmutableDictionary<IActorRef, IImmutableList<string>>.Empty.Add(here, ImmutableList<string>.Empty);

        Assert.Null(await NotNow(strategy.AllocateShard(here, "job-stage-0", regions))); // no placement: never allocated
        placement.Place("job-stage-0", Address.Parse("akka.ssl.tcp://nirvana@node-b:7701"));
        Assert.Null(await NotNow(strategy.AllocateShard(here, "job-stage-0", regions))); // its node's region not registered: retried later
        placement.Place("job-stage-0", here.Path.Address);
        Assert.Same(here, await strategy.AllocateShard(here, "job-stage-0", regions));
        Assert.Empty(await strategy.Rebalance(regions.SetItem(here, ImmutableList.Create("job-stage-0")), ImmutableHashSet<string>.Empty));
    }

    /// <summary>
    /// A "not now" must not come back already completed: Akka.NET's shard coordinator would take the null as a
    /// region and throw inside itself (after a node loss it then never allocates the lost stage again).
    /// </summary>
    private static Task<IActorRef> NotNow(Task<IActorRef> answer)
    {
        Assert.False(answer.IsCompleted, "a null allocation answered synchronously");
        return answer;
    }
}
