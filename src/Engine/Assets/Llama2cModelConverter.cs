using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;
using Serilog;

namespace NirvanaCluster.Engine.Assets;

/// <summary>
/// Converts Karpathy's llama2.c <c>model.bin</c> (legacy format) into a Hugging Face Llama folder: config.json,
/// model.safetensors and the <c>tokenizer.bin</c> copied beside.
/// Mapping: w1 -> gate_proj, w3 -> up_proj, w2 -> down_proj, rms_att -> input_layernorm, rms_ffn ->
/// post_attention_layernorm, rms_final -> model.norm, wcls -> lm_head (only when not shared). llama2.c rotates
/// interleaved pairs (2i, 2i+1) of each head, Hugging Face rotates halves (i, i + Dh/2), so q and k rows are
/// permuted per head exactly as transformers' convert_llama_weights_to_hf.py <c>permute</c> does.
/// </summary>
public static class Llama2cModelConverter
{
    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(Llama2cModelConverter));

    /// <param name="modelBin">the llama2.c checkpoint</param>
    /// <param name="tokenizerBin">llama2.c's tokenizer.bin, copied beside the weights; null for none</param>
    /// <param name="outputDir">created atomically; see <see cref="CheckpointWriteOptions.Force"/></param>
    /// <param name="options">dtype, extra files, force; the tokenizer is added to the extra files</param>
    public static void Convert(string modelBin, string? tokenizerBin, string outputDir, CheckpointWriteOptions? options = null)
    {
        var header = Llama2cHeader.Read(modelBin);
        var config = header.ToConfig();
        options ??= new CheckpointWriteOptions();
        if (tokenizerBin is not null) options = options with { ExtraFiles = [.. options.ExtraFiles, tokenizerBin] };
        options = options with { Inputs = [.. options.Inputs, modelBin] };
        Log.Information("Converting llama2.c model {Model} ({Layers} layers, dim {Dim}, vocab {Vocab}) into {Output}",
            modelBin, header.Layers, header.Dim, header.VocabSize, outputDir);
        CheckpointWriter.Write(outputDir, config, Tensors(modelBin, header), options);
    }

    /// <summary>The Hugging Face tensors of a llama2.c file, each read from disk only when the writer asks for it.</summary>
    public static IEnumerable<NamedTensor> Tensors(string modelBin, Llama2cHeader header)
    {
        var at = header.Offsets();
        long d = header.Dim, f = header.HiddenDim, kv = header.KvDim, v = header.VocabSize;

        NamedTensor Slice(string name, string array, int layer, long[] shape, int? permuteHeads = null) =>
            new(name, shape, () =>
            {
                var count = shape.Aggregate(1L, (a, b) => a * b);
                var values = ReadFloats(modelBin, at[array] + layer * count * sizeof(float), count);
                return permuteHeads is { } heads ? InterleavedToHalves(values, heads, (int)shape[0], (int)shape[1]) : values;
            });

        yield return Slice("model.embed_tokens.weight", "token_embedding", 0, [v, d]);
        for (var l = 0; l < header.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            yield return Slice(p + "input_layernorm.weight", "rms_att", l, [d]);
            yield return Slice(p + "self_attn.q_proj.weight", "wq", l, [d, d], header.Heads);
            yield return Slice(p + "self_attn.k_proj.weight", "wk", l, [kv, d], header.KvHeads);
            yield return Slice(p + "self_attn.v_proj.weight", "wv", l, [kv, d]);
            yield return Slice(p + "self_attn.o_proj.weight", "wo", l, [d, d]);
            yield return Slice(p + "post_attention_layernorm.weight", "rms_ffn", l, [d]);
            yield return Slice(p + "mlp.gate_proj.weight", "w1", l, [f, d]);
            yield return Slice(p + "mlp.up_proj.weight", "w3", l, [f, d]);
            yield return Slice(p + "mlp.down_proj.weight", "w2", l, [d, f]);
        }
        yield return Slice("model.norm.weight", "rms_final", 0, [d]);
        if (!header.SharedClassifier)
            yield return Slice("lm_head.weight", "wcls", 0, [v, d]);
    }

    /// <summary>
    /// Reorders the rows of a [rows, columns] projection from interleaved rotary pairs to rotate-half: within each
    /// head of width Dh, source row 2i + j (pair i, member j) goes to row j * Dh/2 + i. This is transformers'
    /// <c>w.view(heads, Dh/2, 2, columns).transpose(1, 2).reshape(rows, columns)</c>.
    /// </summary>
    public static float[] InterleavedToHalves(ReadOnlySpan<float> weight, int heads, int rows, int columns)
    {
        if (rows % heads != 0 || rows / heads % 2 != 0 || weight.Length != (long)rows * columns)
            throw new ArgumentException($"cannot split {rows} rows of {columns} into {heads} heads of rotary pairs (got {weight.Length} values)");
        var headDim = rows / heads;
        var half = headDim / 2;
        var result = new float[weight.Length];
        for (var h = 0; h < heads; h++)
            for (var i = 0; i < half; i++)
                for (var j = 0; j < 2; j++)
                {
                    var source = h * headDim + 2 * i + j;
                    var target = h * headDim + j * half + i;
                    weight.Slice(source * columns, columns).CopyTo(result.AsSpan(target * columns, columns));
                }
        return result;
    }

    private static float[] ReadFloats(string path, long offset, long count)
    {
        var values = new float[count];
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        while (!bytes.IsEmpty)
        {
            var read = RandomAccess.Read(file, bytes, offset);
            if (read == 0) throw new InvalidDataException($"{path}: ended at byte {offset}; the file was truncated while converting");
            bytes = bytes[read..];
            offset += read;
        }
        return values;
    }
}
