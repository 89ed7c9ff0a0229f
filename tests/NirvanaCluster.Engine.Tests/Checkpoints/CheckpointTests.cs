using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

public class CheckpointTests
{
    private static readonly LlamaConfig Config = new LlamaConfig
    {
        HiddenSize = 8, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 1,
        IntermediateSize = 16, VocabSize = 10, TieWordEmbeddings = false, BosTokenId = 1, EosTokenId = 2,
    }.Validated();

    /// <summary>A Llama-shaped tensor set; each value encodes the tensor index and position, so misplacements show.</summary>
    private static List<NamedTensor> Tensors(LlamaConfig c)
    {
        var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [c.VocabSize, c.HiddenSize]) };
        for (var l = 0; l < c.NumHiddenLayers; l++)
        {
            var p = $"model.layers.{l}.";
            shapes.Add((p + "input_layernorm.weight", [c.HiddenSize]));
            shapes.Add((p + "self_attn.q_proj.weight", [c.NumAttentionHeads * c.HeadDim, c.HiddenSize]));
            shapes.Add((p + "self_attn.k_proj.weight", [c.NumKeyValueHeads * c.HeadDim, c.HiddenSize]));
            shapes.Add((p + "self_attn.v_proj.weight", [c.NumKeyValueHeads * c.HeadDim, c.HiddenSize]));
            shapes.Add((p + "self_attn.o_proj.weight", [c.HiddenSize, c.NumAttentionHeads * c.HeadDim]));
            shapes.Add((p + "post_attention_layernorm.weight", [c.HiddenSize]));
            shapes.Add((p + "mlp.gate_proj.weight", [c.IntermediateSize, c.HiddenSize]));
            shapes.Add((p + "mlp.up_proj.weight", [c.IntermediateSize, c.HiddenSize]));
            shapes.Add((p + "mlp.down_proj.weight", [c.HiddenSize, c.IntermediateSize]));
        }
        shapes.Add(("model.norm.weight", [c.HiddenSize]));
        shapes.Add(("lm_head.weight", [c.VocabSize, c.HiddenSize]));
        return shapes.Select((s, t) => new NamedTensor(s.Item1, s.Item2,
            Enumerable.Range(0, (int)s.Item2.Aggregate(1L, (a, d) => a * d)).Select(i => t + i / 1024f).ToArray())).ToList();
    }

    private static float[] ValuesOf(NamedTensor t) => t.Produce!().ToArray();

    /// <summary>
    /// F32 bytes: embedding 320, each layer 2368, final norm 32, lm_head 320; 2700 per shard therefore gives
    /// shard 1 = embedding + layer 0, shard 2 = layer 1 + final norm, shard 3 = lm_head.
    /// </summary>
    private const long ThreeShards = 2700;

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void A_single_file_checkpoint_round_trips(DType dtype)
    {
        using var temp = new TempDirectory();
        var tokenizer = temp.File("tokenizer.json");
        File.WriteAllText(tokenizer, "{\"model\": {}}");
        var dir = temp.File("model");
        var tensors = Tensors(Config);
        CheckpointWriter.Write(dir, Config, tensors, new CheckpointWriteOptions { DType = dtype, ExtraFiles = [tokenizer] });

        Assert.Equal([".nirvana-output", "config.json", "model.safetensors", "tokenizer.json"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order());
        Assert.Equal(["model", "tokenizer.json"], temp.Entries()); // no staging folder left
        using var checkpoint = Checkpoint.Open(dir);
        Assert.Equal(Config, checkpoint.Config);
        Assert.Equal(tensors.Select(t => t.Name).Order(), checkpoint.TensorNames.Order());
        foreach (var t in tensors)
        {
            var expected = ValuesOf(t).Select(v => dtype switch
            {
                DType.BF16 => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(v)),
                DType.F16 => (float)(Half)v,
                _ => v,
            });
            Assert.Equal(expected, checkpoint.ReadFloat32(t.Name, t.Shape));
            Assert.Equal(dtype, checkpoint.Info(t.Name).DType);
        }
        Assert.Equal(dtype.TorchName(), (string?)checkpoint.RawConfig["torch_dtype"]);
    }

    [Fact]
    public void A_sharded_checkpoint_is_split_named_and_indexed_as_Hugging_Face_does()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var tensors = Tensors(Config);
        var total = tensors.Sum(t => t.ElementCount * 4);
        Assert.Equal(5408, total);
        CheckpointWriter.Write(dir, Config, tensors, new CheckpointWriteOptions { MaxShardBytes = ThreeShards });

        var shardFiles = Directory.GetFiles(dir, "model-*.safetensors").Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"], shardFiles);
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model.safetensors.index.json")))!;
        Assert.Equal(total, (long?)index["metadata"]!["total_size"]);
        var map = index["weight_map"]!.AsObject();
        Assert.Equal(map.Select(p => p.Key).Order(StringComparer.Ordinal), map.Select(p => p.Key));
        Assert.Equal("model-00001-of-00003.safetensors", (string?)map["model.embed_tokens.weight"]);
        Assert.Equal("model-00001-of-00003.safetensors", (string?)map["model.layers.0.mlp.down_proj.weight"]);
        Assert.Equal("model-00002-of-00003.safetensors", (string?)map["model.norm.weight"]);
        Assert.Equal("model-00003-of-00003.safetensors", (string?)map["lm_head.weight"]);

        using var checkpoint = Checkpoint.Open(dir);
        foreach (var t in tensors) Assert.Equal(ValuesOf(t), checkpoint.ReadFloat32(t.Name, t.Shape));
        Assert.Equal(Path.Combine(dir, "model-00003-of-00003.safetensors"), checkpoint.FileOf("lm_head.weight"));
    }

    [Fact]
    public void Shards_open_only_when_a_tensor_in_them_is_read()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var tensors = Tensors(Config);
        CheckpointWriter.Write(dir, Config, tensors, new CheckpointWriteOptions { MaxShardBytes = ThreeShards });
        File.WriteAllText(Path.Combine(dir, "model-00002-of-00003.safetensors"), "garbage, not a safetensors file");
        File.Delete(Path.Combine(dir, "model-00003-of-00003.safetensors"));

        using var checkpoint = Checkpoint.Open(dir);
        var layer0 = tensors.Single(t => t.Name == "model.layers.0.self_attn.q_proj.weight");
        Assert.Equal(ValuesOf(layer0), checkpoint.ReadFloat32(layer0.Name, layer0.Shape));
        Assert.Equal([4L, 8L], checkpoint.Info("model.layers.0.self_attn.k_proj.weight").Shape);
        Assert.Equal(["model-00001-of-00003.safetensors"], checkpoint.OpenedShards);
        Assert.True(checkpoint.Contains("lm_head.weight")); // known from the index alone

        var garbage = Assert.Throws<InvalidDataException>(() => checkpoint.ReadFloat32("model.layers.1.mlp.down_proj.weight"));
        Assert.Contains(Path.Combine(dir, "model-00002-of-00003.safetensors"), garbage.Message);
        var absent = Assert.Throws<InvalidDataException>(() => checkpoint.ReadFloat32("lm_head.weight"));
        Assert.Contains("model-00003-of-00003.safetensors", absent.Message);
        Assert.Contains("'lm_head.weight'", absent.Message);
    }

    [Fact]
    public void A_wrong_shape_or_missing_tensor_names_file_tensor_and_shapes()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        CheckpointWriter.Write(dir, Config, Tensors(Config));
        using var checkpoint = Checkpoint.Open(dir);
        var shape = Assert.Throws<InvalidDataException>(() => checkpoint.ReadFloat32("model.norm.weight", 4, 2));
        Assert.Equal($"{Path.Combine(dir, "model.safetensors")}: tensor 'model.norm.weight' has shape [8], expected [4, 2]", shape.Message);
        var missing = Assert.Throws<InvalidDataException>(() => checkpoint.ReadFloat32("model.layers.9.mlp.up_proj.weight", 16, 8));
        Assert.Equal($"{Path.Combine(dir, "model.safetensors")}: no tensor 'model.layers.9.mlp.up_proj.weight'", missing.Message);
        Assert.Throws<InvalidDataException>(() => checkpoint.ReadFloat32("model.norm.weight", new float[8], [8, 1]));
        var into = new float[8];
        checkpoint.ReadFloat32("model.norm.weight", into, [8]);
        Assert.Equal(Tensors(Config).Single(t => t.Name == "model.norm.weight").Produce!().ToArray(), into);
    }

    [Fact]
    public void Concurrent_reads_across_shards_return_the_right_values()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var tensors = Tensors(Config);
        CheckpointWriter.Write(dir, Config, tensors, new CheckpointWriteOptions { MaxShardBytes = 600, DType = DType.BF16 });
        using var checkpoint = Checkpoint.Open(dir);
        var expected = tensors.ToDictionary(t => t.Name, t => ValuesOf(t).Select(v => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(v))).ToArray());
        var failures = 0;
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var t = tensors[i % tensors.Count];
            if (!checkpoint.ReadFloat32(t.Name, t.Shape).SequenceEqual(expected[t.Name])) Interlocked.Increment(ref failures);
        });
        Assert.Equal(0, failures);
        Assert.True(checkpoint.OpenedShards.Count > 3);
    }

    [Fact]
    public void An_existing_folder_is_refused_unless_forced_and_then_replaced_whole()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "keep.txt"), "mine");
        var refused = Assert.Throws<ArgumentException>(() => CheckpointWriter.Write(dir, Config, Tensors(Config)));
        Assert.Contains(dir, refused.Message);
        Assert.Equal(["keep.txt"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!));
        // Forcing does not replace a folder this program did not write.
        var notOurs = Assert.Throws<ArgumentException>(() => CheckpointWriter.Write(dir, Config, Tensors(Config), new CheckpointWriteOptions { Force = true }));
        Assert.Contains("not written by nirvana", notOurs.Message);
        Assert.Equal(["keep.txt"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!));

        // One it wrote is replaced whole.
        CheckpointWriter.Write(temp.File("ours"), Config, Tensors(Config));
        File.WriteAllText(Path.Combine(temp.File("ours"), "stale.txt"), "left from before");
        CheckpointWriter.Write(temp.File("ours"), Config, Tensors(Config), new CheckpointWriteOptions { Force = true });
        Assert.False(File.Exists(Path.Combine(temp.File("ours"), "stale.txt")));
        Assert.True(File.Exists(Path.Combine(temp.File("ours"), OutputGuard.MarkerFileName)));
        using (var checkpoint = Checkpoint.Open(temp.File("ours"))) Assert.Equal(Config, checkpoint.Config);
        Assert.Equal(["model", "ours"], temp.Entries());
    }

    [Fact]
    public void A_failure_while_writing_leaves_nothing_new_and_keeps_the_old_folder()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var failing = Tensors(Config).Append(new NamedTensor("boom", [1], () => throw new InvalidOperationException("producer failed"))).ToList();

        Assert.Throws<InvalidOperationException>(() => CheckpointWriter.Write(dir, Config, failing, new CheckpointWriteOptions { MaxShardBytes = 500 }));
        Assert.Empty(temp.Entries());

        CheckpointWriter.Write(dir, Config, Tensors(Config));
        Assert.Throws<InvalidOperationException>(() => CheckpointWriter.Write(dir, Config, failing, new CheckpointWriteOptions { Force = true }));
        Assert.Equal(["model"], temp.Entries());
        using var checkpoint = Checkpoint.Open(dir);
        Assert.False(checkpoint.Contains("boom"));

        Assert.Throws<FileNotFoundException>(() => CheckpointWriter.Write(temp.File("other"), Config, Tensors(Config),
            new CheckpointWriteOptions { ExtraFiles = [temp.File("no-such-tokenizer.json")] }));
        Assert.Equal(["model"], temp.Entries());
    }

    [Fact]
    public void The_original_config_fields_survive_a_rewrite()
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var original = ConfigJson.ParseObject(ConfigJsonTests.Llama32, "original");
        original["num_hidden_layers"] = 2;
        var config = ConfigJson.FromJson(original) with { HiddenSize = 8, NumAttentionHeads = 2, NumKeyValueHeads = 1, ExplicitHeadDim = null, IntermediateSize = 16, VocabSize = 128256 }; // the vocabulary stays: bos/eos ids must lie inside it
        CheckpointWriter.Write(dir, config, Tensors(config), new CheckpointWriteOptions { OriginalConfig = original, DType = DType.BF16 });
        using var checkpoint = Checkpoint.Open(dir);
        Assert.Equal("4.45.0.dev0", (string?)checkpoint.RawConfig["transformers_version"]);
        Assert.Equal(3, checkpoint.RawConfig["eos_token_id"]!.AsArray().Count);
        Assert.Equal(config, checkpoint.Config);
    }

    [Theory]
    [InlineData("""{"weight_map": {"a": "../outside.safetensors"}}""")]
    [InlineData("""{"weight_map": {"a": 5}}""")]
    [InlineData("""{"weight_map": []}""")]
    [InlineData("""{"weight_map": """)]
    public void A_bad_index_is_refused_naming_it(string index)
    {
        using var temp = new TempDirectory();
        ConfigJson.Write(temp.File("config.json"), Config);
        File.WriteAllText(temp.File("model.safetensors.index.json"), index);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Open(temp.Path));
        Assert.Contains(temp.File("model.safetensors.index.json"), error.Message);
    }

    [Fact]
    public void A_folder_without_weights_or_config_says_what_is_missing()
    {
        using var temp = new TempDirectory();
        Assert.Contains("config.json", Assert.Throws<FileNotFoundException>(() => Checkpoint.Open(temp.Path)).Message);
        ConfigJson.Write(temp.File("config.json"), Config);
        Assert.Contains("model.safetensors", Assert.Throws<FileNotFoundException>(() => Checkpoint.Open(temp.Path)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => Checkpoint.Open(temp.File("nowhere")));
    }

    [Theory]
    [InlineData(DType.F32, float.NaN, "NaN")]
    [InlineData(DType.BF16, float.NaN, "NaN")]
    [InlineData(DType.F16, float.NaN, "NaN")]
    [InlineData(DType.BF16, float.PositiveInfinity, "\\+inf")]
    [InlineData(DType.F16, float.NegativeInfinity, "-inf")]
    [InlineData(DType.F16, 1e6f, "\\+inf")] // finite in fp32, past F16's range: the file holds +inf
    public void A_weight_held_at_checkpoint_precision_is_refused_when_not_finite_naming_tensor_and_element(DType dtype, float bad, string shown)
    {
        using var temp = new TempDirectory();
        var dir = temp.File("model");
        var tensors = Tensors(Config);
        var up = tensors.FindIndex(t => t.Name == "model.layers.1.mlp.up_proj.weight");
        var values = ValuesOf(tensors[up]);
        values[37] = bad; // past the first vector's width, so the vector scan has to find it, then the index
        tensors[up] = new NamedTensor(tensors[up].Name, tensors[up].Shape, values);
        CheckpointWriter.Write(dir, Config, tensors, new CheckpointWriteOptions { DType = dtype });
        using var checkpoint = Checkpoint.Open(dir);

        var good = checkpoint.ReadWeight("model.layers.0.mlp.up_proj.weight", Config.IntermediateSize, Config.HiddenSize);
        Assert.Equal(dtype, good.DType);
        var e = Assert.Throws<InvalidDataException>(() => checkpoint.ReadWeight(tensors[up].Name, Config.IntermediateSize, Config.HiddenSize));
        Assert.Matches($"tensor 'model.layers.1.mlp.up_proj.weight' holds {shown} at element 37;", e.Message);
        if (dtype != DType.F32)
            Assert.Throws<InvalidDataException>(() => checkpoint.ReadWeight(tensors[up].Name, Config.IntermediateSize, Config.HiddenSize, DType.F32));
    }
}
