using System.Buffers;
using System.Buffers.Binary;

namespace NirvanaCluster.Messages.Framing;

/// <summary>Reads and writes the 5-byte frame header: [u32 LE length of kind + body][u8 kind].</summary>
public static class FrameHeader
{
    public const int Size = 5;

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>. Returns false when more bytes are needed
    /// (buffer untouched); throws <see cref="WireProtocolException"/> for a frame that must close the connection.
    /// The body is a slice of the buffer, valid until the reader advances past it.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int maxFrameBytes, out FrameKind kind, out ReadOnlySequence<byte> body) =>
        TryRead(ref buffer, maxFrameBytes, out kind, out body, out _);

    /// <summary>
    /// As <see cref="TryRead(ref ReadOnlySequence{byte}, int, out FrameKind, out ReadOnlySequence{byte})"/>; when it
    /// returns false, <paramref name="bytesNeeded"/> is how many buffered bytes would complete the next frame (or its
    /// header), so a reader can wait for all of them at once instead of waking per network packet.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int maxFrameBytes, out FrameKind kind, out ReadOnlySequence<byte> body, out long bytesNeeded)
    {
        kind = default;
        body = default;
        bytesNeeded = Size;
        if (buffer.Length < Size)
            return false;

        Span<byte> header = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(header);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length == 0)
            throw new WireProtocolException("frame length 0: every frame needs at least its kind byte");
        if (length > (uint)maxFrameBytes)
            throw new WireProtocolException($"frame of {length} bytes exceeds the maximum frame size of {maxFrameBytes} bytes");
        kind = (FrameKind)header[4];
        if (!Enum.IsDefined(kind))
            throw new WireProtocolException($"unknown frame kind {header[4]}, expected 1..6");

        bytesNeeded = 4 + (long)length;
        if (buffer.Length < bytesNeeded)
            return false;
        body = buffer.Slice(Size, length - 1);
        buffer = buffer.Slice(4 + (long)length);
        return true;
    }

    /// <summary>Writes a header announcing a body of <paramref name="bodyLength"/> bytes.</summary>
    public static void Write(IBufferWriter<byte> writer, FrameKind kind, int bodyLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bodyLength);
        var span = writer.GetSpan(Size);
        BinaryPrimitives.WriteUInt32LittleEndian(span, checked((uint)bodyLength + 1));
        span[4] = (byte)kind;
        writer.Advance(Size);
    }
}
