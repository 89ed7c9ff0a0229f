using System.Buffers;
using System.Buffers.Binary;

namespace NirvanaCluster.Messages.Framing;

/// <summary>
/// The TensorEnd frame body: [u64 transfer id][u32 chunk count][u32 CRC-32C of the whole tensor][u64 total bytes].
/// The receiver checks all three against what it assembled.
/// </summary>
public readonly record struct TensorEndFrame(ulong TransferId, uint ChunkCount, uint TotalCrc32C, ulong TotalBytes)
{
    public const int Size = 24;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, TransferId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], ChunkCount);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], TotalCrc32C);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], TotalBytes);
    }

    public static TensorEndFrame Read(ReadOnlySequence<byte> body)
    {
        if (body.Length != Size)
            throw new WireProtocolException($"tensor end frame has {body.Length} bytes, expected {Size}");
        Span<byte> bytes = stackalloc byte[Size];
        body.CopyTo(bytes);
        return new TensorEndFrame(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]));
    }
}
