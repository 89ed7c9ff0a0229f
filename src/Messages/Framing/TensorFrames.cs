using System.Buffers;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Messages.Framing;

/// <summary>The sending half of tensor framing: descriptor, chunk frames each with its CRC-32C, and the closing total.</summary>
public static class TensorFrames
{
    public static TensorDescriptor Describe(TensorPayload tensor, ulong transferId, int chunkSize)
    {
        RequireLittleEndian();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        var descriptor = new TensorDescriptor
        {
            TransferId = transferId,
            Name = tensor.Name,
            Dtype = tensor.DType,
            ByteLength = (ulong)tensor.Data.Length,
            ChunkSize = (uint)chunkSize,
        };
        descriptor.Shape.AddRange(tensor.Shape);
        return descriptor;
    }

    /// <summary>Tensor bytes travel as the host lays them out; that is the wire format only on little-endian hosts.</summary>
    public static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("tensor framing sends raw little-endian bytes; big-endian hosts are not supported");
    }

    public static int ChunkCount(long byteLength, int chunkSize) => checked((int)((byteLength + chunkSize - 1) / chunkSize));

    /// <summary>Writes chunk <paramref name="index"/> of the tensor as one frame; returns the chunk's CRC-32C.</summary>
    public static uint WriteChunk(IBufferWriter<byte> writer, ulong transferId, uint index, ReadOnlySpan<byte> chunk)
    {
        var crc = Crc32C.Compute(chunk);
        FrameHeader.Write(writer, FrameKind.TensorChunk, TensorChunkHeader.Size + chunk.Length);
        var header = writer.GetSpan(TensorChunkHeader.Size);
        new TensorChunkHeader(transferId, index, crc).Write(header);
        writer.Advance(TensorChunkHeader.Size);
        writer.Write(chunk);
        return crc;
    }

    public static void WriteEnd(IBufferWriter<byte> writer, TensorEndFrame end)
    {
        FrameHeader.Write(writer, FrameKind.TensorEnd, TensorEndFrame.Size);
        var span = writer.GetSpan(TensorEndFrame.Size);
        end.Write(span);
        writer.Advance(TensorEndFrame.Size);
    }
}
