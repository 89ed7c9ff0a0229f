using System.Buffers;
using Google.Protobuf;

namespace NirvanaCluster.Messages.Framing;

/// <summary>Frames that carry one protobuf message as their body.</summary>
public static class ProtobufFrames
{
    /// <summary>Writes header and message; returns the frame's total size on the wire.</summary>
    public static int Write(IBufferWriter<byte> writer, FrameKind kind, IMessage message)
    {
        var size = message.CalculateSize();
        FrameHeader.Write(writer, kind, size);
        message.WriteTo(writer);
        return FrameHeader.Size + size;
    }

    /// <summary>Parses a frame body, turning protobuf's exception into a <see cref="WireProtocolException"/> naming the frame.</summary>
    public static T Parse<T>(MessageParser<T> parser, FrameKind kind, ReadOnlySequence<byte> body) where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireProtocolException($"malformed {kind} frame of {body.Length} bytes: {e.Message}", e);
        }
    }
}
