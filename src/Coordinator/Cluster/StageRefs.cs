using Akka.Actor;
using Akka.Cluster.Sharding;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>How the coordinator reaches stage i (through the shard region by entity id, or in-process directly), and which stage a reply came from.</summary>
public abstract class StageRefs
{
    public abstract void Tell(int stage, object message, IActorRef sender);

    /// <summary>The index of the stage that sent a reply, or -1.</summary>
    public abstract int IndexOf(IActorRef sender);

    /// <summary>Stages as Cluster Sharding entities: where they live is the region's business.</summary>
    public sealed class Sharded(IActorRef region, IReadOnlyList<string> entityIds) : StageRefs
    {
        public IReadOnlyList<string> EntityIds { get; } = entityIds;
        public override void Tell(int stage, object message, IActorRef sender) => region.Tell(new ShardingEnvelope(EntityIds[stage], message), sender);
        public override int IndexOf(IActorRef sender) => EntityIds.ToList().IndexOf(Uri.UnescapeDataString(sender.Path.Name));
    }

    /// <summary>Stages as plain actors of this process (the in-process placement).</summary>
    public sealed class Direct(IReadOnlyList<IActorRef> stages) : StageRefs
    {
        public override void Tell(int stage, object message, IActorRef sender) => stages[stage].Tell(message, sender);
        public override int IndexOf(IActorRef sender) => stages.ToList().IndexOf(sender);
    }
}
