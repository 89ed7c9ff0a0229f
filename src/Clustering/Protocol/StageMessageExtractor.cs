using Akka.Cluster.Sharding;

namespace NirvanaCluster.Clustering.Protocol;

/// <summary>
/// Messages to a stage travel in a <see cref="ShardingEnvelope"/> whose entity id names the stage (Akka unwraps
/// it before this extractor is asked). Each stage is a shard of its own, so that the placement strategy can put
/// every stage exactly where the partition says.
/// </summary>
public sealed class StageMessageExtractor : IMessageExtractor
{
    public string? EntityId(object message) => null;

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => null;

    public string ShardId(string entityId, object? messageHint = null) => entityId;
}
