using System.Buffers.Binary;
using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tests.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Assets;

public class Llama2cModelConverterTests
{
    // dim 8, hidden 12, 2 layers, 2 heads of width 4, 1 KV head, vocab 5, seq_len 3
    private const int D = 8, F = 12, L = 2, H = 2, Hkv = 1, V = 5, T = 3, Dh = D / H, Dkv = Hkv * Dh;

    /// <summary>The arrays of the legacy format in file order, with their float counts, written out by hand.</summary>
    private static readonly (string Name, int Floats)[] Layout =
    [
        ("token_embedding", V * D), ("rms_att", L * D), ("wq", L * D * D), ("wk", L * Dkv * D), ("wv", L * Dkv * D),
        ("wo", L * D * D), ("rms_ffn", L * D), ("w1", L * F * D), ("w2", L * D * F), ("w3", L * F * D), ("rms_final", D),
        ("freq_cis_real", T * Dh / 2), ("freq_cis_imag", T * Dh / 2),
    ];

    /// <summary>Value k of array a: a * 1000 + k, so every float says where it came from.</summary>
    private static float Tag(int array, int k) => array * 1000 + k;

    private static string WriteModel(TempDirectory temp, bool shared, Func<int, int, float>? value = null)
    {
        value ??= Tag;
        var arrays = shared ? Layout : [.. Layout, ("wcls", V * D)];
        var bytes = new List<byte>();
        foreach (var field in new[] { D, F, L, H, Hkv, shared ? V : -V, T })
            bytes.AddRange(BitConverter.GetBytes(field));
        for (var a = 0; a < arrays.Length; a++)
            for (var k = 0; k < arrays[a].Floats; k++)
                bytes.AddRange(BitConverter.GetBytes(value(a, k)));
        var path = temp.File("model.bin");
        File.WriteAllBytes(path, [.. bytes]);
        return path;
    }

    private static int ArrayIndex(string name) => Array.FindIndex(Layout, a => a.Name == name) is var i and >= 0 ? i : Layout.Length;

    /// <summary>The floats of one layer's slice of array <paramref name="name"/>, as written.</summary>
    private static float[] Written(string name, int layer, int count) =>
        Enumerable.Range(layer * count, count).Select(k => Tag(ArrayIndex(name), k)).ToArray();

    [Fact]
    public void Converts_names_shapes_config_and_copies_the_tokenizer()
    {
        using var temp = new TempDirectory();
        var model = WriteModel(temp, shared: true);
        var tokenizer = temp.File("tokenizer.bin");
        File.WriteAllBytes(tokenizer, [1, 2, 3]);
        var output = temp.File("hf");
        Llama2cModelConverter.Convert(model, tokenizer, output);

        using var checkpoint = Checkpoint.Open(output);
        var c = checkpoint.Config;
        Assert.Equal(("llama", D, F, L, H, Hkv, V), (c.ModelType, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.VocabSize));
        Assert.Equal((10000f, 1e-5f, T, 1, 2, true), (c.RopeTheta, c.RmsNormEps, c.MaxPositionEmbeddings, c.BosTokenId, c.EosTokenId, c.TieWordEmbeddings));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(output, "tokenizer.bin")));
        Assert.False(checkpoint.Contains("lm_head.weight"));
        Assert.Equal(2 + 9 * L, checkpoint.TensorNames.Count);

        Assert.Equal(Written("token_embedding", 0, V * D), checkpoint.ReadFloat32("model.embed_tokens.weight", V, D));
        Assert.Equal(Written("rms_final", 0, D), checkpoint.ReadFloat32("model.norm.weight", D)); // not the rotary tables after it
        for (var l = 0; l < L; l++)
        {
            var p = $"model.layers.{l}.";
            Assert.Equal(Written("rms_att", l, D), checkpoint.ReadFloat32(p + "input_layernorm.weight", D));
            Assert.Equal(Written("rms_ffn", l, D), checkpoint.ReadFloat32(p + "post_attention_layernorm.weight", D));
            Assert.Equal(Written("wv", l, Dkv * D), checkpoint.ReadFloat32(p + "self_attn.v_proj.weight", Dkv, D));
            Assert.Equal(Written("wo", l, D * D), checkpoint.ReadFloat32(p + "self_attn.o_proj.weight", D, D));
            Assert.Equal(Written("w1", l, F * D), checkpoint.ReadFloat32(p + "mlp.gate_proj.weight", F, D));
            Assert.Equal(Written("w3", l, F * D), checkpoint.ReadFloat32(p + "mlp.up_proj.weight", F, D));
            Assert.Equal(Written("w2", l, D * F), checkpoint.ReadFloat32(p + "mlp.down_proj.weight", D, F));
        }
    }

    /// <summary>
    /// Head width 4: pairs (0,1) and (2,3) rotate together in llama2.c; rotate-half pairs rows (0,2) and (1,3).
    /// So each head's rows, in the new order, are the old rows 0, 2, 1, 3.
    /// </summary>
    [Fact]
    public void Permutes_q_and_k_rows_from_interleaved_pairs_to_rotate_half_by_hand_computed_index()
    {
        using var temp = new TempDirectory();
        var output = temp.File("hf");
        Llama2cModelConverter.Convert(WriteModel(temp, shared: true), null, output);
        using var checkpoint = Checkpoint.Open(output);
        int[] qOrder = [0, 2, 1, 3, 4, 6, 5, 7]; // two heads
        int[] kOrder = [0, 2, 1, 3];             // one KV head
        for (var l = 0; l < L; l++)
        {
            var wq = Written("wq", l, D * D);
            var wk = Written("wk", l, Dkv * D);
            Assert.Equal(qOrder.SelectMany(r => wq.Skip(r * D).Take(D)), checkpoint.ReadFloat32($"model.layers.{l}.self_attn.q_proj.weight", D, D));
            Assert.Equal(kOrder.SelectMany(r => wk.Skip(r * D).Take(D)), checkpoint.ReadFloat32($"model.layers.{l}.self_attn.k_proj.weight", Dkv, D));
        }
    }

    /// <summary>
    /// The point of the permutation: for random weights and inputs, llama2.c's attention scores (interleaved rotary on
    /// the original rows) equal Hugging Face's (rotate-half on the converted rows) at every pair of positions.
    /// </summary>
    [Fact]
    public void Attention_scores_are_unchanged_by_the_conversion()
    {
        const int heads = 3, headDim = 8, dim = heads * headDim;
        var random = new Random(5);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var wq = Random(dim * dim);
        var wk = Random(dim * dim);
        var wqHf = Llama2cModelConverter.InterleavedToHalves(wq, heads, dim, dim);
        var wkHf = Llama2cModelConverter.InterleavedToHalves(wk, heads, dim, dim);
        var x = Enumerable.Range(0, 5).Select(_ => Random(dim)).ToArray();
        var maxDifference = 0.0;
        for (var m = 0; m < x.Length; m++)
            for (var n = 0; n < x.Length; n++)
                for (var h = 0; h < heads; h++)
                {
                    var interleaved = Dot(RotateInterleaved(Head(MatVec(wq, x[m], dim), h, headDim), m), RotateInterleaved(Head(MatVec(wk, x[n], dim), h, headDim), n));
                    var halves = Dot(RotateHalf(Head(MatVec(wqHf, x[m], dim), h, headDim), m), RotateHalf(Head(MatVec(wkHf, x[n], dim), h, headDim), n));
                    maxDifference = Math.Max(maxDifference, Math.Abs(interleaved - halves));
                }
        Assert.True(maxDifference < 1e-9, $"max difference {maxDifference}");
        // and the check can fail: without the permutation the scores differ
        var unpermuted = Dot(RotateHalf(Head(MatVec(wq, x[1], dim), 0, headDim), 1), RotateHalf(Head(MatVec(wk, x[3], dim), 0, headDim), 3));
        var reference = Dot(RotateInterleaved(Head(MatVec(wq, x[1], dim), 0, headDim), 1), RotateInterleaved(Head(MatVec(wk, x[3], dim), 0, headDim), 3));
        Assert.True(Math.Abs(unpermuted - reference) > 1e-3);
    }

    private static double[] MatVec(float[] w, float[] x, int dim) =>
        Enumerable.Range(0, dim).Select(r => Enumerable.Range(0, dim).Sum(c => (double)w[r * dim + c] * x[c])).ToArray();

    private static double[] Head(double[] v, int h, int headDim) => v.Skip(h * headDim).Take(headDim).ToArray();

    private static double Theta(int i, int headDim) => Math.Pow(10000, -2.0 * i / headDim);

    /// <summary>llama2.c run.c: rotate (v[2i], v[2i+1]) by pos * theta_i.</summary>
    private static double[] RotateInterleaved(double[] v, int pos)
    {
        var r = (double[])v.Clone();
        for (var i = 0; i < v.Length / 2; i++)
        {
            var (cos, sin) = (Math.Cos(pos * Theta(i, v.Length)), Math.Sin(pos * Theta(i, v.Length)));
            r[2 * i] = v[2 * i] * cos - v[2 * i + 1] * sin;
            r[2 * i + 1] = v[2 * i] * sin + v[2 * i + 1] * cos;
        }
        return r;
    }

    /// <summary>transformers apply_rotary_pos_emb: v * cos + rotate_half(v) * sin, pairs (i, i + Dh/2).</summary>
    private static double[] RotateHalf(double[] v, int pos)
    {
        var half = v.Length / 2;
        var r = new double[v.Length];
        for (var i = 0; i < half; i++)
        {
            var (cos, sin) = (Math.Cos(pos * Theta(i, v.Length)), Math.Sin(pos * Theta(i, v.Length)));
            r[i] = v[i] * cos - v[i + half] * sin;
            r[i + half] = v[i + half] * cos + v[i] * sin;
        }
        return r;
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (p, q) => p * q).Sum();

    [Fact]
    public void An_unshared_classifier_becomes_lm_head()
    {
        using var temp = new TempDirectory();
        var output = temp.File("hf");
        Llama2cModelConverter.Convert(WriteModel(temp, shared: false), null, output);
        using var checkpoint = Checkpoint.Open(output);
        Assert.False(checkpoint.Config.TieWordEmbeddings);
        Assert.Equal(V, checkpoint.Config.VocabSize);
        Assert.Equal(Enumerable.Range(0, V * D).Select(k => Tag(Layout.Length, k)), checkpoint.ReadFloat32("lm_head.weight", V, D));
    }

    [Theory]
    [InlineData(0, 0, "dim")]
    [InlineData(2, 0, "n_layers")]    // no layers
    [InlineData(3, 3, "n_heads")]     // 3 heads do not divide dim 8
    [InlineData(4, 3, "n_kv_heads")]  // 3 KV heads do not divide 2 heads
    [InlineData(5, 0, "vocab_size")]
    [InlineData(6, -1, "seq_len")]
    public void A_bad_header_field_is_named(int field, int value, string name)
    {
        using var temp = new TempDirectory();
        var path = WriteModel(temp, shared: true);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * field), value);
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => Llama2cModelConverter.Convert(path, null, temp.File("hf")));
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{name}'", error.Message);
        Assert.Equal(["model.bin"], temp.Entries());
    }

    [Fact]
    public void A_wrong_size_a_short_file_and_a_versioned_export_are_refused()
    {
        using var temp = new TempDirectory();
        var path = WriteModel(temp, shared: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        var truncated = Assert.Throws<InvalidDataException>(() => Llama2cModelConverter.Convert(path, null, temp.File("hf")));
        Assert.Contains($"{bytes.Length - 4} bytes", truncated.Message);
        Assert.Contains($"needs exactly {bytes.Length} bytes", truncated.Message);
        Assert.Contains("truncated", truncated.Message);

        File.WriteAllBytes(path, [.. bytes, 0, 0, 0, 0]); // the shared/unshared mix-up: an extra array's worth would show the same way
        Assert.Contains("needs exactly", Assert.Throws<InvalidDataException>(() => Llama2cHeader.Read(path)).Message);

        File.WriteAllBytes(path, bytes[..10]);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => Llama2cHeader.Read(path)).Message);

        var versioned = (byte[])bytes.Clone();
        "ak42"u8.ToArray().Reverse().ToArray().CopyTo(versioned, 0); // 0x616b3432 little-endian
        File.WriteAllBytes(path, versioned);
        Assert.Contains("ak42", Assert.Throws<InvalidDataException>(() => Llama2cHeader.Read(path)).Message);
        Assert.Equal(["model.bin"], temp.Entries());
    }
}
