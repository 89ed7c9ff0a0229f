using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// Writes a GGUF version 3 file (ggml's docs/gguf.md): magic "GGUF", version, tensor count, metadata count, the
/// metadata key/values, the tensor infos (name, dimensions in ggml order, type, offset into the data section), zero
/// padding to the alignment, then each tensor's bytes at its offset, each offset a multiple of the alignment.
/// All integers little-endian. Tensors are produced, encoded and written one at a time.
/// </summary>
public static class GgufWriter
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint Version = 3;
    public const int Alignment = 32;      // general.alignment's default; we do not write the key

    public static void Write(Stream output, GgufMetadata metadata, IReadOnlyList<GgufTensor> tensors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"GGUF tensor '{t.Name}' is given twice");
            if (t.Dims.Length is < 1 or > 4 || t.Dims.Any(d => d <= 0))
                throw new ArgumentException($"GGUF tensor '{t.Name}': dimensions [{string.Join(", ", t.Dims)}] must be 1 to 4 positive sizes");
            _ = t.ByteLength; // a Q8_0 tensor whose rows do not split into blocks fails here, before anything is written
        }
        var header = new BinaryBuffer();
        header.U32(Magic).U32(Version).U64((ulong)tensors.Count).U64((ulong)metadata.Entries.Count);
        foreach (var (key, value) in metadata.Entries)
        {
            header.Str(key).U32((uint)value.Type);
            WriteValue(header, value, key);
        }
        long offset = 0;
        foreach (var t in tensors)
        {
            header.Str(t.Name).U32((uint)t.Dims.Length);
            foreach (var d in t.Dims) header.U64((ulong)d);
            header.U32((uint)t.Type).U64((ulong)offset);
            offset = Align(offset + t.ByteLength);
        }
        header.Pad();
        output.Write(header.Written);

        long written = 0;
        foreach (var t in tensors)
        {
            var values = t.Produce();
            if (values.Length != t.ElementCount)
                throw new InvalidDataException($"GGUF tensor '{t.Name}': produced {values.Length} values, its dimensions [{string.Join(", ", t.Dims)}] hold {t.ElementCount}");
            written += Encode(output, t, values.Span);
            var padding = (int)(Align(written) - written);
            output.Write(new byte[padding]);
            written += padding;
        }
        output.Flush();
    }

    /// <summary>
    /// Writes <paramref name="path"/> through a temporary file beside it that is moved into place only when complete;
    /// an existing file is refused unless <paramref name="force"/>.
    /// </summary>
    public static void WriteFile(string path, bool force, GgufMetadata metadata, IReadOnlyList<GgufTensor> tensors)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"output '{full}' is a folder, not a file");
        if (File.Exists(full) && !force) throw new IOException($"output file '{full}' already exists; pass --force to replace it");
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.partial-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                Write(stream, metadata, tensors);
            if (File.Exists(full) && !force) throw new IOException($"output file '{full}' appeared while writing; pass --force to replace it");
            File.Move(temporary, full, overwrite: force);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    private static long Encode(Stream output, GgufTensor t, ReadOnlySpan<float> values)
    {
        var width = (int)t.RowWidth;
        var rowBytes = (int)t.Type.RowBytes(width);
        var rows = values.Length / width;
        // Rows are encoded into a buffer of about 1 MiB and written in one call each time it fills.
        var rowsPerChunk = Math.Max(1, (1 << 20) / rowBytes);
        var buffer = ArrayPool<byte>.Shared.Rent(rowsPerChunk * rowBytes);
        try
        {
            for (var first = 0; first < rows; first += rowsPerChunk)
            {
                var count = Math.Min(rowsPerChunk, rows - first);
                var chunk = buffer.AsSpan(0, count * rowBytes);
                var source = values.Slice(first * width, count * width);
                switch (t.Type)
                {
                    case GgmlType.F32:
                        MemoryMarshal.AsBytes(source).CopyTo(chunk);
                        break;
                    case GgmlType.F16:
                        var halves = MemoryMarshal.Cast<byte, Half>(chunk);
                        FloatConversion.SingleToHalf(source, halves);
                        for (var i = 0; i < halves.Length; i++)
                            if (Half.IsInfinity(halves[i]) && float.IsFinite(source[i]))
                                throw new InvalidDataException(
                                    $"tensor '{t.Name}': value {source[i]} at element {(long)first * width + i} exceeds the F16 range (±65504); export as bf16 or f32");
                        break;
                    case GgmlType.BF16:
                        FloatConversion.SingleToBFloat16(source, MemoryMarshal.Cast<byte, ushort>(chunk));
                        break;
                    case GgmlType.Q8_0:
                        for (var r = 0; r < count; r++)
                            Q8_0.QuantizeRow(source.Slice(r * width, width), chunk.Slice(r * rowBytes, rowBytes));
                        break;
                    default:
                        throw new ArgumentOutOfRangeException(nameof(t), t.Type, "not a type this writer knows");
                }
                output.Write(chunk);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return (long)rows * rowBytes;
    }

    private static void WriteValue(BinaryBuffer b, GgufValue value, string key)
    {
        if (value.Type != GgufValueType.Array)
        {
            WriteScalar(b, value.Type, value.Value, key);
            return;
        }
        b.U32((uint)value.ElementType).U64((ulong)value.ArrayLength);
        foreach (var element in (System.Collections.IEnumerable)value.Value) WriteScalar(b, value.ElementType, element!, key);
    }

    private static void WriteScalar(BinaryBuffer b, GgufValueType type, object v, string key)
    {
        try
        {
            switch (type)
            {
                case GgufValueType.UInt8: b.Bytes([(byte)v]); break;
                case GgufValueType.Int8: b.Bytes([unchecked((byte)(sbyte)v)]); break;
                case GgufValueType.UInt16: b.U16((ushort)v); break;
                case GgufValueType.Int16: b.U16(unchecked((ushort)(short)v)); break;
                case GgufValueType.UInt32: b.U32((uint)v); break;
                case GgufValueType.Int32: b.U32(unchecked((uint)(int)v)); break;
                case GgufValueType.Float32: b.U32(BitConverter.SingleToUInt32Bits((float)v)); break;
                case GgufValueType.Bool: b.Bytes([(bool)v ? (byte)1 : (byte)0]); break;
                case GgufValueType.String: b.Str((string)v); break;
                case GgufValueType.UInt64: b.U64((ulong)v); break;
                case GgufValueType.Int64: b.U64(unchecked((ulong)(long)v)); break;
                case GgufValueType.Float64: b.U64(BitConverter.DoubleToUInt64Bits((double)v)); break;
                default: throw new ArgumentException($"GGUF metadata key '{key}': type {type} cannot be written here");
            }
        }
        catch (InvalidCastException)
        {
            throw new ArgumentException($"GGUF metadata key '{key}': a {v.GetType().Name} is not a {type}");
        }
    }

    /// <summary>A growable little-endian byte buffer for the header.</summary>
    private sealed class BinaryBuffer
    {
        private readonly ArrayBufferWriter<byte> buffer = new(1 << 16);

        public ReadOnlySpan<byte> Written => buffer.WrittenSpan;

        public BinaryBuffer Bytes(ReadOnlySpan<byte> bytes)
        {
            buffer.Write(bytes);
            return this;
        }

        public BinaryBuffer U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(buffer.GetSpan(2), v);
            buffer.Advance(2);
            return this;
        }

        public BinaryBuffer U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.GetSpan(4), v);
            buffer.Advance(4);
            return this;
        }

        public BinaryBuffer U64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.GetSpan(8), v);
            buffer.Advance(8);
            return this;
        }

        public BinaryBuffer Str(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            return U64((ulong)bytes.Length).Bytes(bytes);
        }

        public BinaryBuffer Pad()
        {
            var padding = (int)(Align(buffer.WrittenCount) - buffer.WrittenCount);
            return Bytes(new byte[padding]);
        }
    }
}
