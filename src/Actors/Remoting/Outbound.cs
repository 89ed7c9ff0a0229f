using NirvanaCluster.Messages.Tensors;
using Envelope = NirvanaCluster.Messages.Wire.Envelope;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>One item of a connection's outbox, written by its single writer loop.</summary>
internal abstract record Outbound;

/// <summary>A serialized message and, in the same order as its descriptors, the tensors whose chunks follow it.</summary>
internal sealed record OutboundEnvelope(Envelope Envelope, IReadOnlyList<TensorPayload> Tensors) : Outbound;

internal sealed record OutboundHeartbeat : Outbound
{
    public static readonly OutboundHeartbeat Instance = new();
}
