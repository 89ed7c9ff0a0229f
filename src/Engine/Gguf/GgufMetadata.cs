namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// One metadata value: a scalar (<see cref="Value"/> is uint, int, float, bool, string, ...) or an array, whose
/// elements all have <see cref="ElementType"/> and are held in <see cref="Value"/> as a typed array.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value, GgufValueType ElementType = GgufValueType.UInt8)
{
    public int ArrayLength => Value switch
    {
        string[] s => s.Length,
        Array a => a.Length,
        _ => throw new InvalidOperationException($"a {Type} value is not an array"),
    };

    public override string ToString() => Type == GgufValueType.Array
        ? $"[{ElementType} x {ArrayLength}]"
        : Value is string s ? $"\"{s}\"" : Convert.ToString(Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
}

/// <summary>
/// The key/value metadata of a GGUF file in writing order, with typed adders for what llama.cpp reads (its loader
/// checks types strictly: counts are uint32, epsilons and frequencies float32, token lists arrays of strings).
/// </summary>
public sealed class GgufMetadata
{
    private readonly List<KeyValuePair<string, GgufValue>> entries = [];
    private readonly HashSet<string> keys = new(StringComparer.Ordinal);

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Entries => entries;

    public GgufValue? this[string key] => entries.FirstOrDefault(e => e.Key == key).Value;

    public GgufMetadata Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!keys.Add(key)) throw new ArgumentException($"GGUF metadata key '{key}' is set twice");
        if (value.Type == GgufValueType.Array && value.ElementType == GgufValueType.Array)
            throw new ArgumentException($"GGUF metadata key '{key}': nested arrays are not written");
        entries.Add(new(key, value));
        return this;
    }

    public GgufMetadata String(string key, string value) => Add(key, new(GgufValueType.String, value));
    public GgufMetadata UInt32(string key, uint value) => Add(key, new(GgufValueType.UInt32, value));
    public GgufMetadata Int32(string key, int value) => Add(key, new(GgufValueType.Int32, value));
    public GgufMetadata Float32(string key, float value) => Add(key, new(GgufValueType.Float32, value));
    public GgufMetadata Bool(string key, bool value) => Add(key, new(GgufValueType.Bool, value));
    public GgufMetadata Strings(string key, string[] values) => Add(key, new(GgufValueType.Array, values, GgufValueType.String));
    public GgufMetadata Int32s(string key, int[] values) => Add(key, new(GgufValueType.Array, values, GgufValueType.Int32));
    public GgufMetadata Float32s(string key, float[] values) => Add(key, new(GgufValueType.Array, values, GgufValueType.Float32));
}
