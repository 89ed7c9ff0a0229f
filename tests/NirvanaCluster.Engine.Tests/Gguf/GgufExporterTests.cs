using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Gguf;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tests.Checkpoints;
using NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

namespace NirvanaCluster.Engine.Tests.Gguf;

/// <summary>What the exporter writes, read back with the project's reader (llama.cpp's own reading is the parity tests').</summary>
public class GgufExporterTests
{
    private static readonly RandomModels.Case Pruned = new("pruned-llama3-rope", new LlamaConfig
    {
        HiddenSize = 64, NumHiddenLayers = 3, NumAttentionHeads = 8, NumKeyValueHeads = 2, ExplicitHeadDim = 16,
        IntermediateSize = 128, VocabSize = 32000, RopeTheta = 500000, RopeScaling = new RopeScaling("llama3", 8, 1, 4, 32),
        MaxPositionEmbeddings = 256, BosTokenId = 1, EosTokenId = 2, TieWordEmbeddings = true,
        LayerAttentionHeads = [8, 4, 4], LayerKeyValueHeads = [2, 1, 1], LayerIntermediateSizes = [128, 72, 40],
    }, Vocabulary.Llama2c);

    [Fact]
    public void Writes_per_layer_sizes_head_width_and_rope_factors_for_the_deci_architecture()
    {
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(Pruned, temp.File("model"));
        var path = temp.File("m.gguf");
        GgufExporter.Export(dir, path);
        var m = GgufReader.Open(path).Metadata;
        Assert.Equal("deci", m["general.architecture"]!.Value);
        Assert.Equal(0u, m["general.file_type"]!.Value);
        Assert.Equal(new[] { 8, 4, 4 }, (int[])m["deci.attention.head_count"]!.Value);
        Assert.Equal(new[] { 2, 1, 1 }, (int[])m["deci.attention.head_count_kv"]!.Value);
        Assert.Equal(new[] { 128, 72, 40 }, (int[])m["deci.feed_forward_length"]!.Value);
        foreach (var key in new[] { "deci.attention.key_length", "deci.attention.value_length", "deci.rope.dimension_count" })
            Assert.Equal(16u, m[key]!.Value);
        Assert.Equal(3u, m["deci.block_count"]!.Value);
        Assert.Equal(64u, m["deci.embedding_length"]!.Value);
        Assert.Equal(500000f, m["deci.rope.freq_base"]!.Value);

        // rope_freqs holds HF's llama3 rule as llama.cpp's divisor: 1 at high frequency, factor at low, smooth between.
        var reader = GgufReader.Open(path);
        var factors = MemoryMarshal.Cast<byte, float>(GgufReader.ReadTensorBytes(path, reader.Tensor("rope_freqs.weight"))).ToArray();
        Assert.Equal(8, factors.Length);
        for (var i = 0; i < 8; i++)
        {
            var wavelen = 2 * Math.PI * Math.Pow(500000, 2.0 * i / 16);
            var expected = wavelen < 32 / 4.0 ? 1.0 : wavelen > 32 / 1.0 ? 8.0
                : 1 / ((1 - (32 / wavelen - 1) / 3) / 8 + (32 / wavelen - 1) / 3);
            Assert.Equal(expected, factors[i], 5);
        }
        Assert.Equal(1f, factors[0]);
        Assert.Equal(8f, factors[^1]);
        Assert.DoesNotContain(reader.Tensors, t => t.Name == "output.weight"); // tied: llama.cpp reuses token_embd
    }

    [Fact]
    public void Permutes_q_and_k_rows_per_layer_with_that_layers_head_counts()
    {
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(Pruned, temp.File("model"));
        var path = temp.File("m.gguf");
        GgufExporter.Export(dir, path);
        var reader = GgufReader.Open(path);
        using var checkpoint = Checkpoint.Open(dir);
        foreach (var (layer, heads, kvHeads) in new[] { (0, 8, 2), (2, 4, 1) })
        {
            var q = checkpoint.ReadFloat32($"model.layers.{layer}.self_attn.q_proj.weight");
            var k = checkpoint.ReadFloat32($"model.layers.{layer}.self_attn.k_proj.weight");
            Assert.Equal(RotaryPermutation.HalvesToInterleaved(q, heads, heads * 16, 64), Floats(path, reader, $"blk.{layer}.attn_q.weight"));
            Assert.Equal(RotaryPermutation.HalvesToInterleaved(k, kvHeads, kvHeads * 16, 64), Floats(path, reader, $"blk.{layer}.attn_k.weight"));
            Assert.Equal(checkpoint.ReadFloat32($"model.layers.{layer}.self_attn.v_proj.weight"), Floats(path, reader, $"blk.{layer}.attn_v.weight"));
            Assert.Equal([heads * 16L, 64], reader.Tensor($"blk.{layer}.attn_output.weight").Dims); // ggml [in, out]
        }
    }

    [Fact]
    public void Q8_0_keeps_rows_that_do_not_split_into_blocks_at_F16_and_says_which()
    {
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(Pruned, temp.File("model"));
        var summary = GgufExporter.Export(dir, temp.File("q.gguf"), new GgufExportOptions { DType = GgufDType.Q8_0 });
        Assert.Equal(["blk.1.ffn_down.weight", "blk.2.ffn_down.weight"], summary.Fallbacks.Select(f => f.Tensor));
        Assert.Equal([72L, 40], summary.Fallbacks.Select(f => f.RowWidth));
        var reader = GgufReader.Open(temp.File("q.gguf"));
        Assert.Equal(GgmlType.F16, reader.Tensor("blk.1.ffn_down.weight").Type);
        Assert.Equal(GgmlType.Q8_0, reader.Tensor("blk.0.ffn_down.weight").Type);
        Assert.Equal(GgmlType.Q8_0, reader.Tensor("token_embd.weight").Type);
        Assert.Equal(GgmlType.F32, reader.Tensor("blk.1.ffn_norm.weight").Type);
        Assert.Equal(7u, reader.Metadata["general.file_type"]!.Value);
    }

    [Fact]
    public void Writes_the_llama2c_vocabulary_with_its_scores_as_llamas_sentencepiece_model()
    {
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(Pruned, temp.File("model"));
        GgufExporter.Export(dir, temp.File("m.gguf"));
        var m = GgufReader.Open(temp.File("m.gguf")).Metadata;
        var tokens = (string[])m["tokenizer.ggml.tokens"]!.Value;
        var types = (int[])m["tokenizer.ggml.token_type"]!.Value;
        var scores = (float[])m["tokenizer.ggml.scores"]!.Value;
        var tokenizer = (NirvanaCluster.Engine.Tokenizers.Llama2c.Llama2cTokenizer)NirvanaCluster.Engine.Tokenizers.TokenizerLoader.Load(dir);
        Assert.Equal("llama", m["tokenizer.ggml.model"]!.Value);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens[..4]);
        Assert.Equal([2, 3, 3, 6], types[..4]);
        Assert.Equal("<0x0A>", tokens[3 + 10]);
        var the = tokenizer.Encode("the", addBos: false).Single();
        Assert.Equal("▁the", tokens[the]);
        Assert.Equal(tokenizer.Score(the), scores[the]);
        Assert.Equal(true, m["tokenizer.ggml.add_space_prefix"]!.Value);
        Assert.Equal(true, m["tokenizer.ggml.add_bos_token"]!.Value);
        Assert.Equal(1u, m["tokenizer.ggml.bos_token_id"]!.Value);
        Assert.Equal(32000, tokens.Length);
    }

    [Fact]
    public void Carries_the_chat_template_of_tokenizer_config_json()
    {
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(Pruned, temp.File("model"));
        const string template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new { chat_template = template }));
        GgufExporter.Export(dir, temp.File("m.gguf"));
        Assert.Equal(template, GgufReader.Open(temp.File("m.gguf")).Metadata["tokenizer.chat_template"]!.Value);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{not json");
        var e = Assert.Throws<InvalidDataException>(() => GgufExporter.Export(dir, temp.File("n.gguf")));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.False(File.Exists(temp.File("n.gguf")));
    }

    private static float[] Floats(string path, GgufReader reader, string name) =>
        MemoryMarshal.Cast<byte, float>(GgufReader.ReadTensorBytes(path, reader.Tensor(name))).ToArray();
}
