namespace NirvanaCluster.Messages.Framing;

/// <summary>
/// The byte after each frame's length prefix. Frame layout: [u32 LE length][u8 kind][body], where length counts the
/// kind byte and the body.
/// </summary>
public enum FrameKind : byte
{
    /// <summary>Body: a protobuf <c>nirvana.wire.Handshake</c>.</summary>
    Handshake = 1,

    /// <summary>Body: empty. Any frame proves the peer alive; heartbeats keep an idle connection from looking dead.</summary>
    Heartbeat = 2,

    /// <summary>Body: a protobuf <c>nirvana.wire.Envelope</c>.</summary>
    Envelope = 3,

    /// <summary>Body: <see cref="TensorChunkHeader"/> then the chunk's raw little-endian bytes.</summary>
    TensorChunk = 4,

    /// <summary>Body: <see cref="TensorEndFrame"/>, closing one tensor's chunk sequence.</summary>
    TensorEnd = 5,

    /// <summary>Body: a protobuf <c>nirvana.wire.Disconnect</c>; the sender closes the connection after it.</summary>
    Disconnect = 6,
}
