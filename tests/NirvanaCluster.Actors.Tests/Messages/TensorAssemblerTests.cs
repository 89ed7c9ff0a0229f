using System.Buffers;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Actors.Tests.Messages;

public class TensorAssemblerTests
{
    private const int ChunkSize = 4096;

    /// <summary>Writes the tensor's chunk and end frames with the real sender code, then parses them back.</summary>
    private static (List<(TensorChunkHeader Header, byte[] Data)> Chunks, TensorEndFrame End) Frames(TensorPayload tensor, ulong id)
    {
        var writer = new ArrayBufferWriter<byte>();
        uint total = 0, index = 0;
        for (var offset = 0; offset < tensor.Data.Length; offset += ChunkSize)
        {
            var chunk = tensor.Data.Slice(offset, Math.Min(ChunkSize, tensor.Data.Length - offset));
            total = Crc32C.Combine(total, TensorFrames.WriteChunk(writer, id, index++, chunk.Span), chunk.Length);
        }
        TensorFrames.WriteEnd(writer, new TensorEndFrame(id, index, total, (ulong)tensor.Data.Length));

        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        var chunks = new List<(TensorChunkHeader, byte[])>();
        TensorEndFrame? end = null;
        while (FrameHeader.TryRead(ref buffer, 1 << 20, out var kind, out var body))
        {
            if (kind == FrameKind.TensorChunk)
            {
                var header = TensorChunkHeader.Read(body, out var data);
                chunks.Add((header, data.ToArray()));
            }
            else
            {
                end = TensorEndFrame.Read(body);
            }
        }
        return (chunks, end!.Value);
    }

    private static TensorPayload RandomFloats(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < count; i++)
            values[i] = (float)(random.NextDouble() * 2 - 1);
        return TensorPayload.FromFloats("layers.3.mlp.up_proj.weight", values, 10, count / 10);
    }

    [Fact]
    public void Reassembles_a_multi_chunk_tensor_exactly()
    {
        var tensor = RandomFloats(5000, 1); // 20000 bytes: four full chunks and a short one
        var descriptor = TensorFrames.Describe(tensor, 9, ChunkSize);
        var (chunks, end) = Frames(tensor, 9);
        Assert.Equal(5, chunks.Count);
        Assert.Equal(Crc32C.Compute(tensor.Data.Span), end.TotalCrc32C);

        var assembler = new TensorAssembler(descriptor, 1 << 20, 1 << 20);
        foreach (var (header, data) in chunks)
            assembler.AcceptChunk(header, new ReadOnlySequence<byte>(data));
        var received = assembler.Complete(end);

        Assert.Equal(tensor.Name, received.Name);
        Assert.Equal(TensorDType.Float32, received.DType);
        Assert.Equal(new long[] { 10, 500 }, received.Shape);
        Assert.True(tensor.AsFloats().SequenceEqual(received.AsFloats()));
        Assert.True(received.TryGetFloatArray(out var array));
        Assert.Equal(5000, array.Length);
    }

    [Fact]
    public void A_flipped_bit_in_a_chunk_is_an_error_naming_tensor_and_chunk()
    {
        var tensor = RandomFloats(5000, 2);
        var (chunks, _) = Frames(tensor, 3);
        chunks[2].Data[100] ^= 0x10;
        var assembler = new TensorAssembler(TensorFrames.Describe(tensor, 3, ChunkSize), 1 << 20, 1 << 20);
        assembler.AcceptChunk(chunks[0].Header, new ReadOnlySequence<byte>(chunks[0].Data));
        assembler.AcceptChunk(chunks[1].Header, new ReadOnlySequence<byte>(chunks[1].Data));

        var e = Assert.Throws<WireProtocolException>(() => assembler.AcceptChunk(chunks[2].Header, new ReadOnlySequence<byte>(chunks[2].Data)));
        Assert.Contains("layers.3.mlp.up_proj.weight", e.Message);
        Assert.Contains("chunk 2 of 5", e.Message);
        Assert.Contains("CRC-32C", e.Message);
    }

    [Fact]
    public void Missing_reordered_or_short_chunks_are_errors()
    {
        var tensor = RandomFloats(5000, 3);
        var (chunks, end) = Frames(tensor, 4);
        var descriptor = TensorFrames.Describe(tensor, 4, ChunkSize);

        var skipping = new TensorAssembler(descriptor, 1 << 20, 1 << 20);
        Assert.Contains("expected chunk 0", Assert.Throws<WireProtocolException>(() => skipping.AcceptChunk(chunks[1].Header, new ReadOnlySequence<byte>(chunks[1].Data))).Message);

        var truncated = new TensorAssembler(descriptor, 1 << 20, 1 << 20);
        Assert.Contains("expected 4096", Assert.Throws<WireProtocolException>(() => truncated.AcceptChunk(chunks[0].Header, new ReadOnlySequence<byte>(chunks[0].Data[..100]))).Message);

        var early = new TensorAssembler(descriptor, 1 << 20, 1 << 20);
        early.AcceptChunk(chunks[0].Header, new ReadOnlySequence<byte>(chunks[0].Data));
        Assert.Contains("ended after 1 chunks", Assert.Throws<WireProtocolException>(() => early.Complete(end)).Message);
    }

    [Fact]
    public void Descriptors_that_lie_about_size_or_exceed_limits_are_refused_before_allocating()
    {
        var lying = new TensorDescriptor { TransferId = 1, Name = "w", Dtype = TensorDType.Float32, ByteLength = 12, ChunkSize = 4096 };
        lying.Shape.Add(4);
        Assert.Contains("does not match shape [4]", Assert.Throws<WireProtocolException>(() => new TensorAssembler(lying, 1 << 20, 1 << 20)).Message);

        var huge = new TensorDescriptor { TransferId = 2, Name = "w", Dtype = TensorDType.Uint8, ByteLength = 1L << 40, ChunkSize = 4096 };
        huge.Shape.Add(1L << 40);
        Assert.Contains("exceeds the maximum tensor size", Assert.Throws<WireProtocolException>(() => new TensorAssembler(huge, 1 << 20, 1 << 20)).Message);

        var bigChunks = new TensorDescriptor { TransferId = 3, Name = "w", Dtype = TensorDType.Uint8, ByteLength = 10, ChunkSize = 1 << 21 };
        bigChunks.Shape.Add(10);
        Assert.Contains("chunk_size", Assert.Throws<WireProtocolException>(() => new TensorAssembler(bigChunks, 1 << 20, 1 << 20)).Message);
    }

    [Fact]
    public void An_empty_tensor_has_no_chunks_and_still_completes()
    {
        var tensor = TensorPayload.FromBytes("empty", TensorDType.Uint8, ReadOnlyMemory<byte>.Empty, 0);
        var (chunks, end) = Frames(tensor, 5);
        Assert.Empty(chunks);
        var received = new TensorAssembler(TensorFrames.Describe(tensor, 5, ChunkSize), 1 << 20, 1 << 20).Complete(end);
        Assert.Equal(0, received.Data.Length);
    }

    [Fact]
    public void TensorPayload_checks_shape_against_data()
    {
        var e = Assert.Throws<ArgumentException>(() => TensorPayload.FromBytes("bias", TensorDType.Float32, new byte[12], 4));
        Assert.Contains("bias", e.Message);
        Assert.Contains("needs 16 bytes but data has 12", e.Message);
    }
}
