using System.Buffers.Binary;
using System.Text;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>One tensor info of a GGUF file: name, dimensions in ggml order, type and the absolute file offset of its data.</summary>
public sealed record GgufTensorInfo(string Name, long[] Dims, GgmlType Type, long Offset, long ByteLength);

/// <summary>
/// Reads the header of a GGUF version 3 file: metadata and tensor infos, checked against the format and the file's
/// length (every count, length and offset is bounded before it is used), so a damaged or hostile file is an
/// <see cref="InvalidDataException"/> naming the file and what is wrong, never a crash or a huge allocation. It
/// reads the types this project writes; the project uses it to check what it wrote and to read tensors back.
/// </summary>
public sealed class GgufReader
{
    private const int MaxStringBytes = 1 << 20;     // llama.cpp's longest keys and tokens are far shorter
    private const long MaxArrayLength = 1 << 24;     // the largest vocabularies have ~256k tokens
    private const int MaxDims = 4;                   // GGML_MAX_DIMS

    private GgufReader(string source, uint version, GgufMetadata metadata, IReadOnlyList<GgufTensorInfo> tensors, long dataOffset)
        => (Source, Version, Metadata, Tensors, DataOffset) = (source, version, metadata, tensors, dataOffset);

    public string Source { get; }
    public uint Version { get; }
    public GgufMetadata Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    /// <summary>Absolute offset of the data section (the tensor offsets in the file are relative to it).</summary>
    public long DataOffset { get; }

    public GgufTensorInfo Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name) ?? throw new InvalidDataException($"{Source}: no tensor '{name}'");

    public static GgufReader Open(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>The bytes of one tensor from the file at <paramref name="path"/>.</summary>
    public static byte[] ReadTensorBytes(string path, GgufTensorInfo tensor)
    {
        var bytes = new byte[tensor.ByteLength];
        using var handle = File.OpenHandle(path);
        if (RandomAccess.Read(handle, bytes, tensor.Offset) != bytes.Length)
            throw new InvalidDataException($"{path}: tensor '{tensor.Name}' ends past the end of the file");
        return bytes;
    }

    public static GgufReader Parse(ReadOnlySpan<byte> file, string source)
    {
        var r = new Cursor(file, source);
        var magic = r.U32("magic");
        if (magic != GgufWriter.Magic) throw r.Error("magic", $"is 0x{magic:X8}, expected 0x{GgufWriter.Magic:X8} (\"GGUF\"): not a GGUF file");
        var version = r.U32("version");
        if (version != GgufWriter.Version) throw r.Error("version", $"is {version}; only GGUF version {GgufWriter.Version} is read");
        var tensorCount = r.Count("tensor_count", 24);
        var kvCount = r.Count("metadata_kv_count", 12);
        var metadata = new GgufMetadata();
        for (long i = 0; i < kvCount; i++)
        {
            var key = r.Str($"metadata[{i}].key");
            if (key.Length == 0) throw r.Error($"metadata[{i}].key", "is empty");
            var type = r.Type($"metadata '{key}'.type");
            var value = r.Value(type, key);
            try
            {
                metadata.Add(key, value);
            }
            catch (ArgumentException e)
            {
                throw r.Error($"metadata '{key}'", e.Message);
            }
        }
        var alignment = 32L;
        if (metadata["general.alignment"] is { } a)
        {
            if (a.Type != GgufValueType.UInt32 || (uint)a.Value == 0 || ((uint)a.Value & ((uint)a.Value - 1)) != 0)
                throw r.Error("general.alignment", $"must be a power-of-two uint32 (got {a.Type} {a})");
            alignment = (uint)a.Value;
        }
        var infos = new List<(string Name, long[] Dims, GgmlType Type, long Offset)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            var name = r.Str($"tensor[{i}].name");
            if (!names.Add(name)) throw r.Error($"tensor '{name}'", "appears twice");
            var dimCount = r.U32($"tensor '{name}'.n_dims");
            if (dimCount is < 1 or > MaxDims) throw r.Error($"tensor '{name}'.n_dims", $"is {dimCount}, expected 1 to {MaxDims}");
            var dims = new long[dimCount];
            for (var d = 0; d < dimCount; d++)
            {
                var size = r.U64($"tensor '{name}'.ne[{d}]");
                if (size is 0 or > long.MaxValue / 64) throw r.Error($"tensor '{name}'.ne[{d}]", $"is {size}, expected a positive size");
                dims[d] = (long)size;
            }
            var rawType = r.U32($"tensor '{name}'.type");
            if (!Enum.IsDefined((GgmlType)rawType)) throw r.Error($"tensor '{name}'.type", $"is {rawType}, not one of F32 (0), F16 (1), Q8_0 (8), BF16 (30)");
            var offset = r.U64($"tensor '{name}'.offset");
            if (offset % (ulong)alignment != 0) throw r.Error($"tensor '{name}'.offset", $"is {offset}, not a multiple of the alignment {alignment}");
            infos.Add((name, dims, (GgmlType)rawType, offset > long.MaxValue ? -1 : (long)offset));
        }
        var dataOffset = (r.Position + alignment - 1) / alignment * alignment;
        var tensors = new List<GgufTensorInfo>(infos.Count);
        foreach (var (name, dims, type, offset) in infos)
        {
            long bytes;
            try
            {
                var count = dims.Aggregate(1L, (x, y) => checked(x * y));
                if (type == GgmlType.Q8_0 && dims[0] % GgmlTypes.Q8_0BlockSize != 0)
                    throw r.Error($"tensor '{name}'.ne[0]", $"is {dims[0]}, not a multiple of the Q8_0 block of {GgmlTypes.Q8_0BlockSize}");
                bytes = checked(type.RowBytes(dims[0]) * (count / dims[0]));
            }
            catch (OverflowException)
            {
                throw r.Error($"tensor '{name}'", $"dimensions [{string.Join(", ", dims)}] overflow");
            }
            if (offset < 0 || dataOffset + offset > file.Length - bytes)
                throw r.Error($"tensor '{name}'", $"data [{offset}, +{bytes}) lies outside the file's data section ({file.Length - dataOffset} bytes)");
            tensors.Add(new GgufTensorInfo(name, dims, type, dataOffset + offset, bytes));
        }
        return new GgufReader(source, version, metadata, tensors, dataOffset);
    }

    /// <summary>A bounds-checked little-endian reader over the file's bytes.</summary>
    private ref struct Cursor(ReadOnlySpan<byte> data, string source)
    {
        private readonly ReadOnlySpan<byte> data = data;
        private int position;

        public readonly long Position => position;

        public readonly InvalidDataException Error(string field, string message) => new($"{source}: {field} {message}");

        private ReadOnlySpan<byte> Take(int count, string field)
        {
            if (count < 0 || count > data.Length - position)
                throw Error(field, $"needs {count} bytes at offset {position}, but the file has {data.Length} bytes");
            var span = data.Slice(position, count);
            position += count;
            return span;
        }

        public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
        public ulong U64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

        /// <summary>A count whose items each take at least <paramref name="minimumItemBytes"/>, so it is bounded by the file length.</summary>
        public long Count(string field, int minimumItemBytes)
        {
            var count = U64(field);
            if (count > (ulong)((data.Length - position) / minimumItemBytes + 1))
                throw Error(field, $"is {count}, more than a file of {data.Length} bytes can hold");
            return (long)count;
        }

        public string Str(string field)
        {
            var length = U64(field + " length");
            if (length > MaxStringBytes) throw Error(field, $"has length {length}, over the limit of {MaxStringBytes} bytes");
            var bytes = Take((int)length, field);
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Error(field, "is not valid UTF-8");
            }
        }

        public GgufValueType Type(string field)
        {
            var raw = U32(field);
            return Enum.IsDefined((GgufValueType)raw) ? (GgufValueType)raw : throw Error(field, $"is {raw}, not a GGUF value type (0..12)");
        }

        public GgufValue Value(GgufValueType type, string key)
        {
            if (type != GgufValueType.Array) return new GgufValue(type, Scalar(type, key));
            var elementType = Type($"metadata '{key}'.array type");
            if (elementType == GgufValueType.Array) throw Error($"metadata '{key}'", "is an array of arrays, which this reader does not take");
            var length = U64($"metadata '{key}'.array length");
            if (length > MaxArrayLength || length > (ulong)(data.Length - position))
                throw Error($"metadata '{key}'.array length", $"is {length}, more than the file can hold");
            var n = (int)length;
            Array values = elementType switch
            {
                GgufValueType.String => new string[n],
                GgufValueType.UInt8 => new byte[n], GgufValueType.Int8 => new sbyte[n],
                GgufValueType.UInt16 => new ushort[n], GgufValueType.Int16 => new short[n],
                GgufValueType.UInt32 => new uint[n], GgufValueType.Int32 => new int[n],
                GgufValueType.Float32 => new float[n], GgufValueType.Bool => new bool[n],
                GgufValueType.UInt64 => new ulong[n], GgufValueType.Int64 => new long[n],
                _ => new double[n],
            };
            for (var i = 0; i < n; i++) values.SetValue(Scalar(elementType, $"{key}[{i}]"), i);
            return new GgufValue(GgufValueType.Array, values, elementType);
        }

        private object Scalar(GgufValueType type, string key)
        {
            var field = $"metadata '{key}'";
            return type switch
            {
                GgufValueType.UInt8 => Take(1, field)[0],
                GgufValueType.Int8 => (sbyte)Take(1, field)[0],
                GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field)),
                GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(Take(2, field)),
                GgufValueType.UInt32 => U32(field),
                GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field)),
                GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(Take(4, field)),
                GgufValueType.Bool => Take(1, field)[0] switch
                {
                    0 => false,
                    1 => true,
                    var other => throw Error(field, $"is a bool with byte {other}, expected 0 or 1"),
                },
                GgufValueType.String => Str(field),
                GgufValueType.UInt64 => U64(field),
                GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field)),
                GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field)),
                _ => throw Error(field, $"has type {type}, which is not a scalar"),
            };
        }
    }
}
