using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using NirvanaCluster.Engine.Tokenizers;
using Serilog;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// Exports a Hugging Face model folder the project reads (dense or pruned; Llama, Mistral, Qwen2 layouts) as a GGUF
/// file for llama.cpp's <c>deci</c> architecture, the one whose graph is built per layer, so per-layer query heads,
/// KV heads and MLP widths load as they are (arch <c>llama</c> takes layer 0's sizes for all layers).
/// <list type="bullet">
/// <item>Per-layer <c>deci.attention.head_count</c>, <c>head_count_kv</c> and <c>feed_forward_length</c> arrays;
/// head width in <c>key_length</c>/<c>value_length</c>/<c>rope.dimension_count</c> (written, not derived from
/// layer 0's heads).</item>
/// <item>q/k rows (and biases) permuted from rotate-half to interleaved pairs with that layer's head counts
/// (<see cref="RotaryPermutation"/>); q/k/v and o_proj biases are exported (deci creates them when present).</item>
/// <item>Llama-3.1 rope scaling as <c>rope_freqs.weight</c>: the per-frequency divisor, computed from the
/// engine's own scaled inverse frequencies.</item>
/// <item>Norms, biases and rope factors F32; 2-D weights at the chosen type; Q8_0 rows whose width is not a multiple
/// of 32 are stored F16 instead (named in <see cref="GgufExportSummary.Fallbacks"/>), as llama.cpp's quantizer does.</item>
/// <item>deci computes a layer of MLP width 0 wrongly (it skips the residual add and drops the attention output);
/// such a layer cannot reach the exporter: config.json validation refuses a width of 0 and pruning keeps at least
/// <c>--mlp-multiple</c> neurons per layer.</item>
/// </list>
/// The file is written beside the output under a temporary name and moved into place when complete.
/// </summary>
public static class GgufExporter
{
    public const string Architecture = "deci";
    public const string DefaultFileName = "model.gguf";
    private const int MaxLayers = 512; // LLAMA_MAX_LAYERS

    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(GgufExporter));

    public static GgufExportSummary Export(string modelDir, string output, GgufExportOptions? options = null)
    {
        options ??= new GgufExportOptions();
        var fullOutput = Path.GetFullPath(output);
        using var checkpoint = Checkpoint.Open(modelDir);
        CheckOutput(checkpoint, fullOutput);
        var config = checkpoint.Config;
        if (config.NumHiddenLayers > MaxLayers)
            throw new InvalidDataException($"{modelDir}: {config.NumHiddenLayers} layers; llama.cpp reads at most {MaxLayers}");

        var notes = new List<string>();
        var metadata = new GgufMetadata();
        AddModelKeys(metadata, config, options, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir))));
        var vocabulary = GgufVocabulary.AddTo(metadata, modelDir, config.VocabSize);
        notes.AddRange(vocabulary.Notes);
        if (checkpoint.RawConfig["sliding_window"] is JsonValue window && window.TryGetValue<int>(out var w) && w < config.MaxPositionEmbeddings)
            notes.Add($"config.json's sliding_window {w} is not applied (the project's engine and llama.cpp's deci graph both attend over the whole context)");

        var fallbacks = new List<GgufFallback>();
        var tensors = Tensors(checkpoint, options.DType, fallbacks);
        foreach (var f in fallbacks)
            Log.Warning("GGUF export: {Tensor} has rows of {Width} values, not a multiple of {Block}: stored as {Type} instead of Q8_0",
                f.Tensor, f.RowWidth, Q8_0.BlockSize, f.StoredAs.Name());
        foreach (var note in notes) Log.Warning("GGUF export: {Note}", note);
        GgufWriter.WriteFile(fullOutput, options.Force, metadata, tensors);
        var summary = new GgufExportSummary(fullOutput, options.DType, new FileInfo(fullOutput).Length, tensors.Count,
            tensors.GroupBy(t => t.Type).ToDictionary(g => g.Key, g => g.Count()), fallbacks, vocabulary, notes);
        Log.Information("Wrote {Output}: {Tensors} tensors, {DType}, {Bytes:N0} bytes, vocabulary {Model}/{Pre} of {Tokens}",
            fullOutput, summary.Tensors, options.DType.FlagName(), summary.Bytes, vocabulary.TokenizerModel, vocabulary.PreTokenizer ?? "-", vocabulary.Tokens);
        return summary;
    }

    /// <summary>The output must not be the model folder or any file the export reads.</summary>
    private static void CheckOutput(Checkpoint checkpoint, string output)
    {
        var folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpoint.Directory));
        if (string.Equals(Path.TrimEndingDirectorySeparator(output), folder, StringComparison.Ordinal))
            throw new ArgumentException($"--output '{output}' is the model folder itself; name a .gguf file");
        var inputs = checkpoint.TensorNames.Select(checkpoint.FileOf)
            .Concat(new[] { ConfigJson.FileName, ShardIndex.FileName, TokenizerLoader.HuggingFaceFile, TokenizerLoader.Llama2cFile,
                TokenizerLoader.TokenizerConfigFile }.Select(f => Path.Combine(folder, f)))
            .Select(Path.GetFullPath);
        if (inputs.Any(i => string.Equals(i, output, StringComparison.Ordinal)))
            throw new ArgumentException($"--output '{output}' is one of the model's own files; writing it would destroy the input");
    }

    private static void AddModelKeys(GgufMetadata m, LlamaConfig c, GgufExportOptions options, string folderName)
    {
        var a = Architecture;
        var layers = Enumerable.Range(0, c.NumHiddenLayers).ToArray();
        m.String("general.architecture", a).String("general.type", "model").String("general.name", options.Name ?? folderName);
        m.UInt32("general.file_type", options.DType.FileType()).UInt32("general.quantization_version", 2);
        m.UInt32($"{a}.block_count", (uint)c.NumHiddenLayers);
        m.UInt32($"{a}.context_length", (uint)c.MaxPositionEmbeddings);
        m.UInt32($"{a}.embedding_length", (uint)c.HiddenSize);
        m.Int32s($"{a}.feed_forward_length", layers.Select(c.FfnOf).ToArray());
        m.Int32s($"{a}.attention.head_count", layers.Select(c.HeadsOf).ToArray());
        m.Int32s($"{a}.attention.head_count_kv", layers.Select(c.KvHeadsOf).ToArray());
        m.Float32($"{a}.rope.freq_base", c.RopeTheta);
        m.Float32($"{a}.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        m.UInt32($"{a}.attention.key_length", (uint)c.HeadDim);
        m.UInt32($"{a}.attention.value_length", (uint)c.HeadDim);
        m.UInt32($"{a}.rope.dimension_count", (uint)c.HeadDim);
        m.UInt32($"{a}.vocab_size", (uint)c.VocabSize);
    }

    private static List<GgufTensor> Tensors(Checkpoint checkpoint, GgufDType dtype, List<GgufFallback> fallbacks)
    {
        var c = checkpoint.Config;
        var result = new List<GgufTensor>();
        if (c.RopeScaling is { } scaling)
        {
            var plain = Rope.InverseFrequencies(c.HeadDim, c.RopeTheta, null);
            var scaled = Rope.InverseFrequencies(c.HeadDim, c.RopeTheta, scaling);
            var factors = plain.Select((f, i) => (float)(f / scaled[i])).ToArray();
            result.Add(new GgufTensor(GgufTensorNames.RopeFreqs, [factors.Length], GgmlType.F32, () => factors));
        }
        foreach (var (name, shape) in TensorLayout.Model(c))
        {
            var gguf = GgufTensorNames.FromHuggingFace(name);
            var layer = LayerOf(name);
            // ggml lists the row width first: an HF [out, in] weight is ggml [in, out].
            var dims = shape.Reverse().ToArray();
            var type = shape.Length == 1 ? GgmlType.F32 : dtype.WeightType();
            if (type == GgmlType.Q8_0 && dims[0] % Q8_0.BlockSize != 0)
            {
                type = GgmlType.F16;
                fallbacks.Add(new GgufFallback(gguf, dims[0], type));
            }
            int? permuteHeads = name.EndsWith("q_proj.weight", StringComparison.Ordinal) || name.EndsWith("q_proj.bias", StringComparison.Ordinal)
                ? c.HeadsOf(layer)
                : name.EndsWith("k_proj.weight", StringComparison.Ordinal) || name.EndsWith("k_proj.bias", StringComparison.Ordinal)
                    ? c.KvHeadsOf(layer)
                    : null;
            var (tensorName, tensorShape) = (name, shape);
            result.Add(new GgufTensor(gguf, dims, type, () =>
            {
                var values = checkpoint.ReadFloat32(tensorName, tensorShape);
                if (permuteHeads is not { } heads) return values;
                var rows = (int)tensorShape[0];
                return RotaryPermutation.HalvesToInterleaved(values, heads, rows, tensorShape.Length == 1 ? 1 : (int)tensorShape[1]);
            }));
        }
        return result;
    }

    private static int LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return -1;
        var dot = name.IndexOf('.', prefix.Length);
        return int.Parse(name.AsSpan(prefix.Length, dot - prefix.Length), System.Globalization.CultureInfo.InvariantCulture);
    }
}
