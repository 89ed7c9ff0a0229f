using NirvanaCluster.Messages.Cluster;

namespace NirvanaCluster.Messages.Registry;

/// <summary>The registry of everything the cluster protocol sends. Add each new .proto file of the protocol here.</summary>
public static class ProtocolRegistry
{
    public static MessageRegistry CreateDefault() =>
        new MessageRegistry()
            .RegisterFile(ClusterReflection.Descriptor)
            .RegisterFile(NirvanaCluster.Messages.Pruning.PruningReflection.Descriptor);
}
