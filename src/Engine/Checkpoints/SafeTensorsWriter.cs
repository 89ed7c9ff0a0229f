using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Writes a safetensors file as Hugging Face does: 8-byte little-endian header length, a JSON header padded with
/// spaces to a multiple of 8 bytes (so the data starts 8-aligned), then each tensor's bytes in the given order with
/// ascending offsets. The file is written beside its destination under a temporary name and renamed into place
/// only when complete, so a reader never sees half a file.
/// </summary>
public static class SafeTensorsWriter
{
    private const int ChunkElements = 1 << 18;

    /// <summary>Bytes the data of <paramref name="tensors"/> takes in <paramref name="dtype"/> (the header excluded).</summary>
    public static long DataBytes(IEnumerable<NamedTensor> tensors, DType dtype) =>
        tensors.Sum(t => t.ElementCount * dtype.ElementSize());

    /// <param name="path">destination; replaced if it exists</param>
    /// <param name="tensors">written in this order; producers are called one at a time</param>
    /// <param name="dtype">F32, F16 or BF16; narrowing rounds to nearest even</param>
    /// <param name="metadata">written as <c>__metadata__</c> when given</param>
    public static void Write(string path, IReadOnlyList<NamedTensor> tensors, DType dtype = DType.F32,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!dtype.IsReadableAsFloat32())
            throw new ArgumentException($"dtype must be F32, F16 or BF16 (got {dtype.SafeTensorsName()})", nameof(dtype));
        CheckNames(tensors, path);
        var header = Header(tensors, dtype, metadata);
        WriteAtomically(path, header, stream =>
        {
            foreach (var tensor in tensors)
                WriteData(stream, tensor, dtype, path);
        });
    }

    /// <summary>
    /// F64 tensors held in memory (e.g. unit scores, kept exact so that anything planned from them again is
    /// identical), with the same layout, metadata and atomic rename as <see cref="Write"/>.
    /// </summary>
    public static void WriteFloat64(string path, IReadOnlyList<(string Name, long[] Shape, double[] Data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var named = tensors.Select(t => new NamedTensor(t.Name, t.Shape, ReadOnlyMemory<float>.Empty)).ToArray();
        CheckNames(named, path);
        for (var i = 0; i < tensors.Count; i++)
            if (tensors[i].Data.Length != named[i].ElementCount)
                throw new ArgumentException($"{path}: tensor '{tensors[i].Name}' of shape {TensorInfo.FormatShape(tensors[i].Shape)} " +
                                            $"needs {named[i].ElementCount} values, got {tensors[i].Data.Length}");
        var header = Header(named, DType.F64, metadata);
        WriteAtomically(path, header, stream =>
        {
            foreach (var t in tensors) stream.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
        });
    }

    private static void WriteAtomically(string path, byte[] header, Action<Stream> writeData)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                writeData(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static void CheckNames(IReadOnlyList<NamedTensor> tensors, string path)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (string.IsNullOrEmpty(tensor.Name) || tensor.Name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"{path}: '{tensor.Name}' is not a usable tensor name", nameof(tensors));
            if (!seen.Add(tensor.Name))
                throw new ArgumentException($"{path}: tensor '{tensor.Name}' is given twice", nameof(tensors));
        }
    }

    private static byte[] Header(IReadOnlyList<NamedTensor> tensors, DType dtype, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is not null)
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            var offset = 0L;
            foreach (var tensor in tensors)
            {
                var bytes = tensor.ElementCount * dtype.ElementSize();
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", dtype.SafeTensorsName());
                json.WriteStartArray("shape");
                foreach (var dim in tensor.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        var padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteData(Stream stream, NamedTensor tensor, DType dtype, string path)
    {
        if (tensor.ProduceWeight is { } produceWeight)
        {
            WriteWeight(stream, tensor, produceWeight(), dtype, path);
            return;
        }
        var data = tensor.Produce!().Span;
        if (data.Length != tensor.ElementCount)
            throw new ArgumentException($"{path}: tensor '{tensor.Name}' of shape {TensorInfo.FormatShape(tensor.Shape)} " +
                                        $"needs {tensor.ElementCount} values, its producer gave {data.Length}");
        WriteSingles(stream, data, dtype);
    }

    /// <summary>A held weight: its stored bytes when the dtypes agree (no conversion), else widened and narrowed a chunk at a time.</summary>
    private static void WriteWeight(Stream stream, NamedTensor tensor, WeightMatrix weight, DType dtype, string path)
    {
        if (weight.Length != tensor.ElementCount)
            throw new ArgumentException($"{path}: tensor '{tensor.Name}' of shape {TensorInfo.FormatShape(tensor.Shape)} " +
                                        $"needs {tensor.ElementCount} values, its producer gave {weight.Length}");
        var step = weight.RowsPerChunk();
        if (weight.DType == dtype)
        {
            for (var r = 0; r < weight.Rows; r += step) stream.Write(weight.BytesOfRows(r, Math.Min(step, weight.Rows - r)));
            return;
        }
        var chunk = ArrayPool<float>.Shared.Rent(Math.Max(1, ChunkElements));
        try
        {
            for (long done = 0; done < weight.Length;)
            {
                var count = (int)Math.Min(ChunkElements, weight.Length - done);
                weight.ToSingle(done, count, chunk);
                WriteSingles(stream, chunk.AsSpan(0, count), dtype);
                done += count;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(chunk);
        }
    }

    private static void WriteSingles(Stream stream, ReadOnlySpan<float> data, DType dtype)
    {
        if (dtype == DType.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(data));
            return;
        }
        var narrow = ArrayPool<ushort>.Shared.Rent(Math.Min(ChunkElements, Math.Max(1, data.Length)));
        try
        {
            for (var done = 0; done < data.Length;)
            {
                var count = Math.Min(data.Length - done, narrow.Length);
                var source = data.Slice(done, count);
                var target = narrow.AsSpan(0, count);
                if (dtype == DType.F16)
                    FloatConversion.SingleToHalf(source, MemoryMarshal.Cast<ushort, Half>(target));
                else
                    FloatConversion.SingleToBFloat16(source, target);
                stream.Write(MemoryMarshal.AsBytes(target));
                done += count;
            }
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(narrow);
        }
    }
}
