using System.Buffers.Binary;
using Google.Protobuf;
using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// Reads and writes data-plane frames on a stream: [u32 LE length][u8 kind][body], the length counting kind and
/// body and checked against a limit before anything is read, so a peer can never make us allocate what it claims.
/// </summary>
internal static class DataFrames
{
    /// <summary>The limit for protobuf frames (Hello, Packet, ...): a packet names a few tensors, never megabytes.</summary>
    public const int MaxControlFrame = 1 << 20;

    /// <summary>The largest chunk a sender may announce; chunk frames carry a 4-byte CRC-32C before the data.</summary>
    public const int MaxChunkSize = 16 << 20;

    public const int ChunkOverhead = 4;

    /// <summary>[u32 LE length][u8 kind].</summary>
    public const int HeaderSize = 5;

    public static async ValueTask WriteMessageAsync(Stream stream, FrameKind kind, IMessage message, CancellationToken cancellation)
    {
        var size = message.CalculateSize();
        var frame = new byte[DataFrames.HeaderSize + size];
        WriteHeader(frame, kind, size);
        message.WriteTo(frame.AsSpan(DataFrames.HeaderSize));
        await stream.WriteAsync(frame, cancellation);
    }

    public static void WriteHeader(Span<byte> destination, FrameKind kind, int bodyLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, checked((uint)bodyLength + 1));
        destination[4] = (byte)kind;
    }

    /// <summary>Reads a frame header; returns the kind and the body length. Null at a clean end of stream.</summary>
    public static async ValueTask<(FrameKind Kind, int BodyLength)?> ReadHeaderAsync(Stream stream, byte[] scratch, int maxBody, CancellationToken cancellation)
    {
        var read = 0;
        while (read < DataFrames.HeaderSize)
        {
            var n = await stream.ReadAsync(scratch.AsMemory(read, DataFrames.HeaderSize - read), cancellation);
            if (n == 0)
            {
                if (read == 0) return null;
                throw new WireProtocolException($"the connection ended inside a frame header ({read} of {DataFrames.HeaderSize} bytes)");
            }
            read += n;
        }
        var length = BinaryPrimitives.ReadUInt32LittleEndian(scratch);
        if (length == 0) throw new WireProtocolException("frame length 0: every frame needs at least its kind byte");
        var kind = (FrameKind)scratch[4];
        if (!Enum.IsDefined(kind)) throw new WireProtocolException($"unknown frame kind {scratch[4]}: this is not a NirvanaCluster data-plane peer");
        if (length - 1 > (uint)maxBody)
            throw new WireProtocolException($"{kind} frame of {length} bytes exceeds the limit of {maxBody + 1} bytes");
        return (kind, (int)(length - 1));
    }

    public static async ValueTask<T> ReadMessageAsync<T>(Stream stream, int bodyLength, MessageParser<T> parser, CancellationToken cancellation)
        where T : IMessage<T>
    {
        var body = new byte[bodyLength];
        await stream.ReadExactlyAsync(body, cancellation);
        try
        {
            return parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireProtocolException($"malformed {typeof(T).Name} frame: {e.Message}", e);
        }
    }

    /// <summary>Reads the next frame, which must be of <paramref name="expected"/> kind, as a protobuf message.</summary>
    public static async ValueTask<T> ExpectMessageAsync<T>(Stream stream, FrameKind expected, MessageParser<T> parser, CancellationToken cancellation)
        where T : IMessage<T>
    {
        var scratch = new byte[DataFrames.HeaderSize];
        var header = await ReadHeaderAsync(stream, scratch, MaxControlFrame, cancellation)
                     ?? throw new WireProtocolException($"the peer closed the connection before sending {expected}");
        if (header.Kind != expected) throw new WireProtocolException($"expected a {expected} frame, got {header.Kind}");
        return await ReadMessageAsync(stream, header.BodyLength, parser, cancellation);
    }
}
