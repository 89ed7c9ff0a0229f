using System.Buffers;
using System.Collections.Immutable;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Messages.Tensors;

/// <summary>
/// The receiving half of tensor framing: validates a descriptor, takes its chunks in order, checks each chunk's
/// CRC-32C and finally the whole tensor's, and yields the tensor. Any mismatch throws
/// <see cref="WireProtocolException"/> naming the tensor and chunk: a corrupted tensor is an error, never data.
/// </summary>
public sealed class TensorAssembler
{
    private readonly TensorDescriptor _descriptor;
    private readonly ImmutableArray<long> _shape;
    private readonly float[]? _floats;
    private readonly ushort[]? _halves;
    private readonly byte[]? _bytes;
    private readonly Memory<byte> _destination;
    private readonly int _chunkCount;
    private uint _nextChunk;
    private long _received;
    private uint _runningCrc;

    public TensorAssembler(TensorDescriptor descriptor, long maxTensorBytes, int maxChunkBytes)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        TensorFrames.RequireLittleEndian();
        _descriptor = descriptor;
        var what = $"tensor '{descriptor.Name}' (transfer {descriptor.TransferId})";
        if (string.IsNullOrEmpty(descriptor.Name))
            throw new WireProtocolException($"tensor descriptor (transfer {descriptor.TransferId}) has no name");
        if (!descriptor.Dtype.IsKnown())
            throw new WireProtocolException($"{what}: unknown dtype {descriptor.Dtype}");
        _shape = [.. descriptor.Shape];
        var expected = TensorDTypes.ByteLength(descriptor.Dtype, _shape.AsSpan());
        if (expected is null || (ulong)expected.Value != descriptor.ByteLength)
            throw new WireProtocolException(
                $"{what}: byte_length {descriptor.ByteLength} does not match shape [{string.Join(", ", _shape)}] of {descriptor.Dtype}");
        if ((long)descriptor.ByteLength > Math.Min(maxTensorBytes, Array.MaxLength))
            throw new WireProtocolException($"{what}: {descriptor.ByteLength} bytes exceeds the maximum tensor size of {maxTensorBytes} bytes");
        if (descriptor.ChunkSize == 0 || descriptor.ChunkSize > (uint)maxChunkBytes)
            throw new WireProtocolException($"{what}: chunk_size {descriptor.ChunkSize} must be within 1..{maxChunkBytes}");

        var length = (int)descriptor.ByteLength;
        _chunkCount = TensorFrames.ChunkCount(length, (int)descriptor.ChunkSize);
        if (descriptor.Dtype == TensorDType.Float32)
        {
            // Received straight into a float[] so the consumer gets floats without another copy.
            _floats = GC.AllocateUninitializedArray<float>(length / sizeof(float));
            _destination = new FloatArrayMemory(_floats).Memory;
        }
        else if (descriptor.Dtype is TensorDType.Bfloat16 or TensorDType.Float16)
        {
            // Likewise 16-bit weights into a ushort[], what a weight held at BF16/F16 is made of.
            _halves = GC.AllocateUninitializedArray<ushort>(length / sizeof(ushort));
            _destination = new UInt16ArrayMemory(_halves).Memory;
        }
        else
        {
            _bytes = GC.AllocateUninitializedArray<byte>(length);
            _destination = _bytes;
        }
    }

    public ulong TransferId => _descriptor.TransferId;

    public string Name => _descriptor.Name;

    /// <summary>Takes the next chunk; chunks must arrive in order with the descriptor's chunk size.</summary>
    public void AcceptChunk(TensorChunkHeader header, ReadOnlySequence<byte> data)
    {
        var what = $"tensor '{Name}' (transfer {TransferId}) chunk {header.ChunkIndex} of {_chunkCount}";
        if (header.TransferId != TransferId)
            throw new WireProtocolException($"chunk for transfer {header.TransferId} arrived while tensor '{Name}' (transfer {TransferId}) was incomplete");
        if (header.ChunkIndex != _nextChunk)
            throw new WireProtocolException($"{what}: expected chunk {_nextChunk} next");
        if (_nextChunk >= _chunkCount)
            throw new WireProtocolException($"{what}: the tensor has only {_chunkCount} chunks");
        var expectedLength = Math.Min(_descriptor.ChunkSize, (long)_descriptor.ByteLength - _received);
        if (data.Length != expectedLength)
            throw new WireProtocolException($"{what}: carries {data.Length} bytes, expected {expectedLength}");

        var target = _destination.Span.Slice((int)_received, (int)expectedLength);
        data.CopyTo(target);
        var actual = Crc32C.Compute(target);
        if (actual != header.Crc32C)
            throw new WireProtocolException($"{what}: CRC-32C 0x{actual:X8} of the received bytes does not match the sender's 0x{header.Crc32C:X8}; the tensor is corrupt");
        _runningCrc = Crc32C.Combine(_runningCrc, actual, expectedLength);
        _received += expectedLength;
        _nextChunk++;
    }

    /// <summary>Checks the closing frame against what arrived and returns the tensor.</summary>
    public TensorPayload Complete(TensorEndFrame end)
    {
        var what = $"tensor '{Name}' (transfer {TransferId})";
        if (end.TransferId != TransferId)
            throw new WireProtocolException($"end of transfer {end.TransferId} arrived while {what} was incomplete");
        if (_nextChunk != _chunkCount || end.ChunkCount != _chunkCount)
            throw new WireProtocolException($"{what}: ended after {_nextChunk} chunks (sender says {end.ChunkCount}), expected {_chunkCount}");
        if (end.TotalBytes != (ulong)_received)
            throw new WireProtocolException($"{what}: sender says {end.TotalBytes} bytes, received {_received}");
        if (end.TotalCrc32C != _runningCrc)
            throw new WireProtocolException($"{what}: whole-tensor CRC-32C 0x{_runningCrc:X8} does not match the sender's 0x{end.TotalCrc32C:X8}");
        return _floats is not null ? TensorPayload.FromReceivedFloats(Name, _floats, _shape)
            : _halves is not null ? TensorPayload.FromReceivedHalves(Name, _descriptor.Dtype, _halves, _shape)
            : TensorPayload.FromReceivedBytes(Name, _descriptor.Dtype, _bytes!, _shape);
    }
}
