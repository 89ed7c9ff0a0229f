using NirvanaCluster.Actors.Core;
using NirvanaCluster.Messages.Cluster;

namespace NirvanaCluster.Actors.Cluster;

/// <summary>The actor at /system/cluster that answers Join requests from nodes.</summary>
internal sealed class ClusterDaemon : Actor
{
    public const string Name = "cluster";

    public ClusterDaemon(ClusterMembership membership)
    {
        Receive<Join>(join => Sender.Tell(membership.HandleJoin(join, Sender.Path.Address), Self));
    }
}
