namespace NirvanaCluster.Messages.Framing;

/// <summary>
/// The byte after each data-plane frame's length prefix. Frame layout: [u32 LE length][u8 kind][body], where length
/// counts the kind byte and the body.
/// </summary>
public enum FrameKind : byte
{
    /// <summary>Body: a protobuf <c>nirvana.dataplane.Hello</c>; the first frame of every connection.</summary>
    Hello = 1,

    /// <summary>Body: a protobuf <c>nirvana.dataplane.Welcome</c>: the token was accepted.</summary>
    Welcome = 2,

    /// <summary>Body: a protobuf <c>nirvana.dataplane.Refused</c>; the listener closes after it.</summary>
    Refused = 3,

    /// <summary>Body: a protobuf <c>nirvana.dataplane.Packet</c>; the chunks of its tensors follow.</summary>
    Packet = 4,

    /// <summary>Body: [u32 LE CRC-32C of the data][data]: the next bytes of the current tensor.</summary>
    Chunk = 5,

    /// <summary>Body: empty. The sender is done; the connection closes.</summary>
    Close = 6,
}
