using Akka.Actor;
using Akka.Cluster.Sharding;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Placement;
using NirvanaCluster.Clustering.Protocol;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// The Cluster Sharding region of stages, started on every member. Each stage is its own shard, placed by the
/// coordinator's partition and never rebalanced; the shard coordinator runs on the oldest member, which is the
/// coordinator process (the seed), so the placement it reads is the one the coordinator writes.
/// </summary>
public static class StageRegion
{
    public const string TypeName = "stage";

    public static IActorRef Start(ActorSystem system, IDataPlane dataPlane, string nodeName, StagePlacement placement) =>
        ClusterSharding.Get(system).Start(TypeName, _ => StageActor.Props(dataPlane, nodeName), ClusterShardingSettings.Create(system),
            new StageMessageExtractor(), new PartitionAllocationStrategy(placement), PoisonPill.Instance);
}
