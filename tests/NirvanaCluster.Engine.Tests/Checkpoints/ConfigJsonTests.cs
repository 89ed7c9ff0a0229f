using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

public class ConfigJsonTests
{
    /// <summary>meta-llama/Llama-3.2-1B-Instruct's config.json, as published.</summary>
    internal const string Llama32 = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009],
          "head_dim": 64,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 8192,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 16,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.45.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    /// <summary>Qwen/Qwen2.5-0.5B's config.json, as published.</summary>
    private const string Qwen25 = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_mrope": false,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    [Fact]
    public void Reads_Llama_3_2()
    {
        var c = ConfigJson.Parse(Llama32);
        Assert.Equal("llama", c.ModelType);
        Assert.Equal((2048, 16, 32, 8, 8192, 128256), (c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize, c.VocabSize));
        Assert.Equal(64, c.ExplicitHeadDim);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.Equal(500000f, c.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 32f, 1f, 4f, 8192), c.RopeScaling);
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.AttentionBias);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal(128001, c.EosTokenId); // the first of the list
        Assert.False(c.IsPruned);
    }

    [Fact]
    public void Reads_Qwen2_5_with_its_implicit_attention_biases()
    {
        var c = ConfigJson.Parse(Qwen25);
        Assert.Equal("qwen2", c.ModelType);
        Assert.True(c.AttentionBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Null(c.RopeScaling);
        Assert.Null(c.ExplicitHeadDim);
        Assert.Equal(64, c.HeadDim);
        Assert.Equal(2, c.NumKeyValueHeads);
        Assert.Equal(1e-6f, c.RmsNormEps);
        Assert.Equal(1_000_000f, c.RopeTheta);
    }

    [Fact]
    public void Applies_the_Hugging_Face_defaults_to_absent_fields()
    {
        var c = ConfigJson.Parse("""
            {"model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "vocab_size": 100, "head_dim": null, "num_key_value_heads": null, "rope_scaling": null}
            """);
        Assert.Equal(4, c.NumKeyValueHeads);
        Assert.Null(c.ExplicitHeadDim);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(1e-6f, c.RmsNormEps);
        Assert.Equal(10000f, c.RopeTheta);
        Assert.False(c.TieWordEmbeddings);
        Assert.False(c.AttentionBias);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.Null(c.BosTokenId);
        Assert.Null(c.EosTokenId);
    }

    [Fact]
    public void Reads_the_llama_attention_bias_flag_the_older_type_key_and_the_newer_rope_parameters()
    {
        var withBias = ConfigJson.Parse(Edit(Llama32, j =>
        {
            j["attention_bias"] = true;
            j["rope_scaling"]!.AsObject().Remove("rope_type");
            j["rope_scaling"]!["type"] = "llama3";
        }));
        Assert.True(withBias.AttentionBias);
        Assert.Equal("llama3", withBias.RopeScaling!.RopeType);

        var newer = ConfigJson.Parse(Edit(Llama32, j =>
        {
            var parameters = j["rope_scaling"]!.DeepClone().AsObject();
            parameters["rope_theta"] = 123456.0;
            j.Remove("rope_scaling");
            j.Remove("rope_theta");
            j["rope_parameters"] = parameters;
        }));
        Assert.Equal(123456f, newer.RopeTheta);
        Assert.Equal(32f, newer.RopeScaling!.Factor);
    }

    [Theory]
    [InlineData("model_type", "\"gpt2\"", "unsupported architecture")]
    [InlineData("hidden_size", "\"2048\"", "must be an integer")]
    [InlineData("hidden_size", "2048.5", "must be an integer")]
    [InlineData("num_hidden_layers", "true", "must be an integer")]
    [InlineData("num_hidden_layers", "0", "must be positive")]
    [InlineData("rms_norm_eps", "\"small\"", "must be a number")]
    [InlineData("rms_norm_eps", "1e300", "finite single-precision")]
    [InlineData("tie_word_embeddings", "1", "true or false")]
    [InlineData("rope_scaling", "[]", "must be an object")]
    [InlineData("rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}", "only 'llama3'")]
    [InlineData("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 4.0}", "low_freq_factor")]
    [InlineData("eos_token_id", "[\"x\"]", "must be an integer")]
    [InlineData("hidden_act", "\"gelu\"", "silu")]
    [InlineData("mlp_bias", "true", "not supported")]
    [InlineData("num_key_value_heads", "5", "divide")]
    [InlineData("modified_head_num", "[8, 8]", "must have 16 entries")]
    public void A_bad_field_is_refused_naming_file_and_field(string field, string json, string expected)
    {
        var text = Edit(Llama32, j => j[field] = JsonNode.Parse(json));
        var error = Assert.Throws<InvalidDataException>(() => ConfigJson.Parse(text, "/models/x/config.json"));
        Assert.StartsWith("/models/x/config.json: field '", error.Message);
        Assert.Contains(field, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("vocab_size")]
    [InlineData("hidden_size")]
    [InlineData("model_type")]
    public void A_missing_required_field_is_named(string field)
    {
        var error = Assert.Throws<InvalidDataException>(() => ConfigJson.Parse(Edit(Llama32, j => j.Remove(field)), "c.json"));
        Assert.Equal($"c.json: field '{field}' is required", error.Message);
    }

    [Theory]
    [InlineData("{\"model_type\": ", "not valid JSON")]
    [InlineData("[1, 2]", "must hold a JSON object")]
    [InlineData("{\"model_type\": \"llama\", \"model_type\": \"llama\"}", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    public void Invalid_json_is_refused_naming_the_file(string text, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => ConfigJson.Parse(text, "c.json"));
        Assert.StartsWith("c.json: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Reads_the_per_layer_sizes_of_a_pruned_model()
    {
        var text = Edit(Llama32, j =>
        {
            j["num_hidden_layers"] = 2;
            j["modified_head_num"] = new JsonArray(8, 28);
            j["layer_num_key_value_heads"] = new JsonArray(2, 7);
            j["modified_intermediate_dimension"] = new JsonArray(4096, 8192);
            j["pruned"] = true;
            j["pruned_attn"] = true;
        });
        var c = ConfigJson.Parse(text);
        Assert.True(c.IsPruned);
        Assert.Equal([8, 28], c.LayerAttentionHeads!);
        Assert.Equal([2, 7], c.LayerKeyValueHeads!);
        Assert.Equal([4096, 8192], c.LayerIntermediateSizes!);
        Assert.Equal((8, 2, 4096), (c.HeadsOf(0), c.KvHeadsOf(0), c.FfnOf(0)));
    }

    [Fact]
    public void Empty_lists_with_false_flags_are_a_dense_model_as_the_authors_save_it()
    {
        var c = ConfigJson.Parse(Edit(Llama32, j =>
        {
            j["modified_head_num"] = new JsonArray();
            j["modified_intermediate_dimension"] = new JsonArray();
            j["pruned"] = false;
            j["pruned_attn"] = false;
        }));
        Assert.False(c.IsPruned);
    }

    [Theory]
    [InlineData("pruned", "modified_intermediate_dimension")]
    [InlineData("pruned_attn", "modified_head_num")]
    public void A_pruned_flag_without_its_list_or_a_list_against_its_flag_is_refused(string flag, string list)
    {
        var missing = Assert.Throws<InvalidDataException>(() => ConfigJson.Parse(Edit(Llama32, j => j[flag] = true)));
        Assert.Contains($"'{list}' is required", missing.Message);
        var contradicted = Assert.Throws<InvalidDataException>(() => ConfigJson.Parse(Edit(Llama32, j =>
        {
            j[flag] = false;
            j[list] = new JsonArray(Enumerable.Repeat(8, 16).Select(v => (JsonNode?)v).ToArray());
        })));
        Assert.Contains($"'{flag}' is false", contradicted.Message);
    }

    [Fact]
    public void Writes_and_reads_back_every_field_including_the_pruned_sizes()
    {
        var config = new LlamaConfig
        {
            ModelType = "llama", HiddenSize = 256, NumHiddenLayers = 3, NumAttentionHeads = 8, NumKeyValueHeads = 4,
            IntermediateSize = 512, VocabSize = 1000, ExplicitHeadDim = 32, RmsNormEps = 1e-5f, RopeTheta = 500000f,
            RopeScaling = new RopeScaling("llama3", 8f, 1f, 4f, 8192), TieWordEmbeddings = true, AttentionBias = true, AttentionOutputBias = true, // Llama attention_bias biases o_proj too
            MaxPositionEmbeddings = 4096, BosTokenId = 1, EosTokenId = 2,
            LayerAttentionHeads = [8, 2, 4], LayerKeyValueHeads = [4, 1, 2], LayerIntermediateSizes = [512, 8, 264],
        }.Validated();
        using var temp = new TempDirectory();
        var path = temp.File("config.json");
        ConfigJson.Write(path, config, weightsDType: DType.BF16);

        var back = ConfigJson.Read(path);
        Assert.Equal(config with { LayerAttentionHeads = null, LayerKeyValueHeads = null, LayerIntermediateSizes = null },
                     back with { LayerAttentionHeads = null, LayerKeyValueHeads = null, LayerIntermediateSizes = null });
        Assert.Equal(config.LayerAttentionHeads, back.LayerAttentionHeads!);
        Assert.Equal(config.LayerKeyValueHeads, back.LayerKeyValueHeads!);
        Assert.Equal(config.LayerIntermediateSizes, back.LayerIntermediateSizes!);
        var json = ConfigJson.ReadObject(path);
        Assert.Equal("bfloat16", (string?)json["torch_dtype"]);
        Assert.True((bool?)json["pruned"]);
        Assert.True((bool?)json["pruned_attn"]);
        Assert.Contains("\"rms_norm_eps\": 1E-05", File.ReadAllText(path)); // the float's shortest form, not 9.99999974737875E-06
        Assert.Equal(["LlamaForCausalLM"], json["architectures"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Writing_keeps_the_original_fields_it_does_not_model()
    {
        var original = ConfigJson.ParseObject(Llama32, "original");
        var pruned = ConfigJson.FromJson(original) with { LayerIntermediateSizes = Enumerable.Repeat(4096, 16).ToArray() };
        var json = ConfigJson.ToJsonObject(pruned, original, DType.F32);
        Assert.Equal("4.45.0.dev0", (string?)json["transformers_version"]);
        Assert.Equal(0.02, (double?)json["initializer_range"]);
        Assert.Equal([128001, 128008, 128009], json["eos_token_id"]!.AsArray().Select(n => (int)n!)); // still starts with the configured id
        Assert.Equal("float32", (string?)json["torch_dtype"]);
        Assert.Equal(4096, (int?)json["modified_intermediate_dimension"]![3]);
        Assert.False(json.ContainsKey("modified_head_num"));
        Assert.Equal("bfloat16", (string?)original["torch_dtype"]); // the original is not modified

        var otherEos = ConfigJson.ToJsonObject(pruned with { EosTokenId = 7 }, original);
        Assert.Equal(7, (int?)otherEos["eos_token_id"]);
        var dense = ConfigJson.ToJsonObject(ConfigJson.FromJson(original), json); // over a pruned original
        Assert.False(dense.ContainsKey("modified_intermediate_dimension"));
        Assert.False(dense.ContainsKey("pruned"));
    }

    [Fact]
    public async Task Damaged_config_text_either_parses_or_fails_with_InvalidDataException()
    {
        var pruned = Edit(Llama32, j =>
        {
            j["modified_head_num"] = new JsonArray(Enumerable.Repeat(32, 16).Select(v => (JsonNode?)v).ToArray());
            j["modified_intermediate_dimension"] = new JsonArray(Enumerable.Repeat(8192, 16).Select(v => (JsonNode?)v).ToArray());
            j["pruned"] = true;
            j["pruned_attn"] = true;
        });
        const string alphabet = "{}[]\",:0123456789-.eE ntrufals";
        var random = new Random(99);
        var unexpected = new List<string>();
        var (parsed, refused) = (0, 0);
        await Task.Run(() =>
        {
            for (var i = 0; i < 3000; i++)
            {
                var text = pruned;
                for (var k = random.Next(1, 4); k > 0; k--)
                {
                    var at = random.Next(text.Length);
                    text = random.Next(3) switch
                    {
                        0 => text.Remove(at, 1),
                        1 => text.Insert(at, alphabet[random.Next(alphabet.Length)].ToString()),
                        _ => text.Remove(at, 1).Insert(at, alphabet[random.Next(alphabet.Length)].ToString()),
                    };
                }
                try
                {
                    ConfigJson.Parse(text);
                    parsed++;
                }
                catch (InvalidDataException)
                {
                    refused++;
                }
                catch (Exception e)
                {
                    unexpected.Add($"#{i}: {e.GetType().Name}: {e.Message}");
                }
            }
        }).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected.Take(10)));
        Assert.True(parsed > 100 && refused > 500, $"{parsed} parsed, {refused} refused");
    }

    private static string Edit(string json, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        return node.ToJsonString();
    }
}
