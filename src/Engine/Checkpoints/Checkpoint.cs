using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// A Hugging Face model folder: <c>config.json</c> plus <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>. Shards are opened lazily, when a tensor in them is first asked for, so a
/// node that holds a few layers opens only the shards that carry them (and a shard it never needs may be absent).
/// All reads are thread-safe.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";

    private readonly Dictionary<string, string> shardOf; // tensor -> shard file name
    private readonly string weightsDescription;                    // the file errors about missing tensors name
    private readonly Dictionary<string, SafeTensorsFile> opened = new(StringComparer.Ordinal);
    private readonly Lock gate = new();
    private bool disposed;

    private Checkpoint(string directory, LlamaConfig config, JsonObject rawConfig,
        IReadOnlyDictionary<string, string> shardOf, string weightsDescription)
    {
        Directory = directory;
        Config = config;
        RawConfig = rawConfig;
        this.shardOf = new Dictionary<string, string>(shardOf, StringComparer.Ordinal);
        this.weightsDescription = weightsDescription;
    }

    public string Directory { get; }
    public LlamaConfig Config { get; }
    /// <summary>config.json as read, for writing a derived checkpoint that keeps the fields we do not model.</summary>
    public JsonObject RawConfig { get; }
    public IReadOnlyCollection<string> TensorNames => shardOf.Keys;

    /// <summary>Shard files opened so far (file names), for diagnostics and tests.</summary>
    internal IReadOnlyList<string> OpenedShards
    {
        get { lock (gate) return [.. opened.Keys]; }
    }

    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"checkpoint folder '{directory}' does not exist");
        var configPath = Path.Combine(directory, ConfigJson.FileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"{directory}: no {ConfigJson.FileName}; not a Hugging Face checkpoint folder", configPath);
        var raw = ConfigJson.ReadObject(configPath);
        var config = ConfigJson.FromJson(raw, configPath);

        var single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            try
            {
                CheckLayerCount(configPath, config, file.Tensors.Keys, single);
            }
            catch
            {
                file.Dispose();
                throw;
            }
            var checkpoint = new Checkpoint(directory, config, raw,
                file.Tensors.Keys.ToDictionary(name => name, _ => SingleFileName, StringComparer.Ordinal), single);
            checkpoint.opened[SingleFileName] = file;
            return checkpoint;
        }
        var indexPath = Path.Combine(directory, ShardIndex.FileName);
        if (!File.Exists(indexPath))
            throw new FileNotFoundException($"{directory}: neither {SingleFileName} nor {ShardIndex.FileName} is present", single);
        var index = ShardIndex.Read(indexPath);
        CheckLayerCount(configPath, config, index.WeightMap.Keys, indexPath);
        return new Checkpoint(directory, config, raw, index.WeightMap, indexPath);
    }

    /// <summary>
    /// A config that names fewer layers than the weights hold would load a truncated model without complaint (every
    /// tensor it asks for exists): refuse, naming both. More layers in the config fail on the first missing tensor.
    /// </summary>
    private static void CheckLayerCount(string configPath, LlamaConfig config, IEnumerable<string> tensors, string weights)
    {
        var highest = -1;
        string? example = null;
        foreach (var name in tensors)
        {
            if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal)) continue;
            var end = name.IndexOf('.', LayerPrefix.Length);
            if (end > LayerPrefix.Length && int.TryParse(name.AsSpan(LayerPrefix.Length, end - LayerPrefix.Length), out var layer) && layer > highest)
                (highest, example) = (layer, name);
        }
        if (highest >= config.NumHiddenLayers)
            throw new InvalidDataException($"{configPath}: field 'num_hidden_layers' is {config.NumHiddenLayers}, but {weights} holds " +
                                           $"{highest + 1} layers (e.g. '{example}'); the config and the weights disagree");
    }

    private const string LayerPrefix = "model.layers.";

    public bool Contains(string tensor) => shardOf.ContainsKey(tensor);

    /// <summary>Path of the file that holds <paramref name="tensor"/>.</summary>
    public string FileOf(string tensor) => Path.Combine(Directory, ShardNameOf(tensor));

    public TensorInfo Info(string tensor) => Shard(tensor).Info(tensor);

    /// <summary>Reads a tensor without checking its shape.</summary>
    public float[] ReadFloat32(string tensor)
    {
        var file = Shard(tensor);
        return CheckFinite(file, tensor, file.ReadAsFloat32(tensor));
    }

    /// <summary>Reads a tensor after checking its shape is exactly <paramref name="expectedShape"/>.</summary>
    public float[] ReadFloat32(string tensor, params long[] expectedShape)
    {
        var file = Shard(tensor);
        CheckShape(file, tensor, expectedShape);
        return CheckFinite(file, tensor, file.ReadAsFloat32(tensor));
    }

    /// <summary>Reads a tensor of shape <paramref name="expectedShape"/> into <paramref name="destination"/>.</summary>
    public void ReadFloat32(string tensor, Span<float> destination, ReadOnlySpan<long> expectedShape)
    {
        var file = Shard(tensor);
        CheckShape(file, tensor, expectedShape);
        file.ReadAsFloat32(tensor, destination);
        CheckFinite(file, tensor, destination);
    }

    /// <summary>A weight that is NaN or infinite makes every result NaN: refuse it here, naming the tensor and the element.</summary>
    private static float[] CheckFinite(SafeTensorsFile file, string tensor, float[] values)
    {
        CheckFinite(file, tensor, values.AsSpan());
        return values;
    }

    private static void CheckFinite(SafeTensorsFile file, string tensor, ReadOnlySpan<float> values)
    {
        var bad = Tensors.NumericCheck.FirstNonFinite(values);
        if (bad >= 0) throw NonFinite(file, tensor, values[bad], bad);
    }

    private static InvalidDataException NonFinite(SafeTensorsFile file, string tensor, float value, long element) =>
        new($"{file.Path}: tensor '{tensor}' holds {Tensors.NumericCheck.Describe(value)} at element {element}; " +
            "the checkpoint is corrupt (weights must be finite)");

    /// <summary>
    /// Reads a [rows, cols] tensor as a <see cref="WeightMatrix"/>. With <paramref name="holdAs"/> null the stored
    /// bytes are kept as they are (F32, BF16 or F16, copied straight from the file, no conversion); with F32 the
    /// values are widened to fp32 as they are read (exact).
    /// </summary>
    public WeightMatrix ReadWeight(string tensor, int rows, int cols, DType? holdAs = null)
    {
        var file = Shard(tensor);
        CheckShape(file, tensor, [rows, cols]);
        var stored = file.Info(tensor).DType;
        if (!stored.IsReadableAsFloat32())
            throw new InvalidDataException($"{file.Path}: tensor '{tensor}' is {stored.SafeTensorsName()}; weights must be F32, F16 or BF16");
        if (holdAs is { } h && h != DType.F32 && h != stored)
            throw new ArgumentException($"tensor '{tensor}' is stored as {stored.SafeTensorsName()}; it can be held as stored or as F32, not as {h.SafeTensorsName()}", nameof(holdAs));
        var dtype = holdAs ?? stored;
        var weight = WeightMatrix.Allocate(dtype, rows, cols);
        if (dtype == DType.F32)
        {
            file.ReadAsFloat32(tensor, weight.Single);
            CheckFinite(file, tensor, weight.Single);
            return weight;
        }
        var step = weight.RowsPerChunk();
        for (var r = 0; r < rows; r += step)
        {
            var count = Math.Min(step, rows - r);
            file.ReadBytes(tensor, (long)r * cols * dtype.ElementSize(), weight.BytesOfRows(r, count));
        }
        var bad = Tensors.NumericCheck.FirstNonFinite(weight.Half, dtype == DType.BF16 ? (ushort)0x7F80 : (ushort)0x7C00);
        if (bad >= 0)
        {
            Span<float> value = stackalloc float[1];
            weight.ToSingle(bad, 1, value);
            throw NonFinite(file, tensor, value[0], bad);
        }
        return weight;
    }

    /// <summary>
    /// The narrowest float type that holds every tensor of the checkpoint exactly: its own type when all agree,
    /// else F32 (what a pruned copy is written as by default, so no value is ever rounded).
    /// </summary>
    public DType WeightDType
    {
        get
        {
            var types = new HashSet<DType>();
            foreach (var name in shardOf.Keys) types.Add(Info(name).DType);
            return types.Count == 1 && types.Single().IsReadableAsFloat32() ? types.Single() : DType.F32;
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            foreach (var file in opened.Values) file.Dispose();
            opened.Clear();
        }
    }

    private static void CheckShape(SafeTensorsFile file, string tensor, ReadOnlySpan<long> expected)
    {
        var actual = file.Info(tensor).Shape;
        if (!actual.AsSpan().SequenceEqual(expected))
            throw new InvalidDataException($"{file.Path}: tensor '{tensor}' has shape {TensorInfo.FormatShape(actual)}, " +
                                           $"expected {TensorInfo.FormatShape(expected)}");
    }

    private string ShardNameOf(string tensor) =>
        shardOf.TryGetValue(tensor, out var shard)
            ? shard
            : throw new InvalidDataException($"{weightsDescription}: no tensor '{tensor}'");

    private SafeTensorsFile Shard(string tensor)
    {
        var name = ShardNameOf(tensor);
        SafeTensorsFile file;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!opened.TryGetValue(name, out file!))
            {
                var path = Path.Combine(Directory, name);
                if (!File.Exists(path))
                    throw new InvalidDataException($"{weightsDescription}: tensor '{tensor}' is mapped to shard '{name}', which does not exist");
                // Opening reads only the header; holding the lock keeps two readers from opening the same shard twice.
                file = SafeTensorsFile.Open(path);
                opened[name] = file;
            }
        }
        if (!file.Tensors.ContainsKey(tensor))
            throw new InvalidDataException($"{weightsDescription}: tensor '{tensor}' is mapped to shard '{name}', but {file.Path} has no such tensor");
        return file;
    }
}
