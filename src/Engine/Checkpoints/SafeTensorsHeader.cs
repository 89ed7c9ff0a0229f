using System.Text.Json;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// The parsed and validated JSON header of a safetensors file. Validation follows the reference implementation
/// (huggingface/safetensors): known dtypes, non-negative integer shapes and offsets, byte length = elements x
/// dtype size, and the data ranges, sorted by offset, tile the data section exactly (no gap, overlap or tail).
/// </summary>
internal sealed record SafeTensorsHeader(
    IReadOnlyDictionary<string, TensorInfo> Tensors,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The reference implementation refuses headers above 100 MB; so do we, before allocating.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    /// <param name="json">the header bytes</param>
    /// <param name="dataStart">absolute offset of the data section (8 + header length)</param>
    /// <param name="fileLength">length of the whole file</param>
    /// <param name="path">named in errors</param>
    public static SafeTensorsHeader Parse(ReadOnlyMemory<byte> json, long dataStart, long fileLength, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
            return FromDocument(document.RootElement, dataStart, fileLength, path);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e) // a string the reader accepted but cannot decode, e.g. a lone surrogate escape
        {
            throw new InvalidDataException($"{path}: safetensors header holds an undecodable string: {e.Message}", e);
        }
    }

    private static SafeTensorsHeader FromDocument(JsonElement root, long dataStart, long fileLength, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"safetensors header must be a JSON object (got {root.ValueKind})");
        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        Dictionary<string, string>? metadata = null;
        foreach (var property in root.EnumerateObject())
        {
            var name = property.Name;
            if (name == MetadataKey)
            {
                if (metadata is not null) throw Invalid(path, $"'{MetadataKey}' appears twice");
                metadata = ParseMetadata(property.Value, path);
                continue;
            }
            if (tensors.ContainsKey(name)) throw Invalid(path, $"tensor '{name}' appears twice in the header");
            tensors[name] = ParseEntry(name, property.Value, dataStart, path);
        }
        CheckTiling(tensors.Values, dataStart, fileLength, path);
        return new SafeTensorsHeader(tensors, metadata ?? new Dictionary<string, string>());
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"'{MetadataKey}' must be an object of strings (got {value.ValueKind})");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Invalid(path, $"'{MetadataKey}.{entry.Name}' must be a string (got {entry.Value.ValueKind})");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Invalid(path, $"'{MetadataKey}.{entry.Name}' appears twice");
        }
        return metadata;
    }

    private static TensorInfo ParseEntry(string name, JsonElement entry, long dataStart, string path)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw Invalid(path, $"tensor '{name}': header entry must be an object with dtype, shape, data_offsets (got {entry.ValueKind})");

        var dtypeText = Field(entry, "dtype", name, path);
        if (dtypeText.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"tensor '{name}': 'dtype' must be a string (got {dtypeText.ValueKind})");
        var dtypeName = dtypeText.GetString()!;
        if (!DTypes.TryParse(dtypeName, out var dtype))
            throw new InvalidDataException($"unsupported dtype {dtypeName} for tensor {name} in {path}");

        var shape = NonNegativeIntegers(Field(entry, "shape", name, path), "shape", name, path);
        var offsets = NonNegativeIntegers(Field(entry, "data_offsets", name, path), "data_offsets", name, path);
        if (offsets.Length != 2)
            throw Invalid(path, $"tensor '{name}': 'data_offsets' must hold [begin, end] (got {offsets.Length} numbers)");
        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin)
            throw Invalid(path, $"tensor '{name}': data_offsets [{begin}, {end}] end before they begin");

        long expectedBytes;
        try
        {
            var elements = 1L;
            foreach (var dim in shape) elements = checked(elements * dim);
            expectedBytes = checked(elements * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw Invalid(path, $"tensor '{name}': shape {TensorInfo.FormatShape(shape)} has more elements than a file can hold");
        }
        if (end - begin != expectedBytes)
            throw Invalid(path, $"tensor '{name}': data_offsets [{begin}, {end}] span {end - begin} bytes, but shape " +
                                $"{TensorInfo.FormatShape(shape)} of {dtype.SafeTensorsName()} needs {expectedBytes}");
        return new TensorInfo(name, dtype, shape, dataStart + begin, expectedBytes);
    }

    private static JsonElement Field(JsonElement entry, string field, string tensor, string path) =>
        entry.TryGetProperty(field, out var value)
            ? value
            : throw Invalid(path, $"tensor '{tensor}': header entry has no '{field}'");

    private static long[] NonNegativeIntegers(JsonElement array, string field, string tensor, string path)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw Invalid(path, $"tensor '{tensor}': '{field}' must be an array of integers (got {array.ValueKind})");
        var values = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0)
                throw Invalid(path, $"tensor '{tensor}': '{field}[{i}]' must be a non-negative integer (got {item.GetRawText()})");
            values[i++] = value;
        }
        return values;
    }

    private static void CheckTiling(IEnumerable<TensorInfo> tensors, long dataStart, long fileLength, string path)
    {
        var dataLength = fileLength - dataStart;
        var ordered = tensors.OrderBy(t => t.Offset).ThenBy(t => t.ByteLength).ToList();
        foreach (var t in ordered)
            if (t.Offset - dataStart + t.ByteLength > dataLength)
                throw Invalid(path, $"tensor '{t.Name}' ends at data byte {t.Offset - dataStart + t.ByteLength}, past the end " +
                                    $"of the data section ({dataLength} bytes): the file is truncated or the offsets are wrong");
        var expected = dataStart;
        TensorInfo? previous = null;
        foreach (var t in ordered)
        {
            if (t.Offset < expected)
                throw Invalid(path, $"tensor '{t.Name}' (data bytes from {t.Offset - dataStart}) overlaps tensor '{previous!.Name}' " +
                                    $"(data bytes up to {expected - dataStart})");
            if (t.Offset > expected)
                throw Invalid(path, $"tensor '{t.Name}' starts at data byte {t.Offset - dataStart}, leaving a gap after " +
                                    $"{(previous is null ? "the header" : $"tensor '{previous.Name}'")} (which ends at data byte {expected - dataStart})");
            expected = t.Offset + t.ByteLength;
            previous = t;
        }
        if (expected != fileLength)
            throw Invalid(path, $"{fileLength - expected} bytes follow the last tensor's data; the header does not describe them");
    }

    private static InvalidDataException Invalid(string path, string message) => new($"{path}: {message}");
}
