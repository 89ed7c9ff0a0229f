using System.Buffers;
using System.Buffers.Binary;

namespace NirvanaCluster.Messages.Framing;

/// <summary>The start of a TensorChunk frame body: [u64 transfer id][u32 chunk index][u32 CRC-32C of the data]; the data follows.</summary>
public readonly record struct TensorChunkHeader(ulong TransferId, uint ChunkIndex, uint Crc32C)
{
    public const int Size = 16;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, TransferId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], ChunkIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Crc32C);
    }

    /// <summary>Splits a chunk frame body into header and data.</summary>
    public static TensorChunkHeader Read(ReadOnlySequence<byte> body, out ReadOnlySequence<byte> data)
    {
        if (body.Length < Size)
            throw new WireProtocolException($"tensor chunk frame of {body.Length} bytes is shorter than its {Size}-byte header");
        Span<byte> header = stackalloc byte[Size];
        body.Slice(0, Size).CopyTo(header);
        data = body.Slice(Size);
        return new TensorChunkHeader(
            BinaryPrimitives.ReadUInt64LittleEndian(header),
            BinaryPrimitives.ReadUInt32LittleEndian(header[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(header[12..]));
    }
}
