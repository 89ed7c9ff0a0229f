using System.Globalization;
using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Checkpoints;

public static partial class ConfigJson
{
    private static readonly string[] PrunedFields =
        ["modified_head_num", "modified_intermediate_dimension", "layer_num_key_value_heads", "pruned", "pruned_attn"];

    /// <summary>
    /// The config as a config.json object. Fields of <paramref name="original"/> that <see cref="LlamaConfig"/> does
    /// not model (architectures, token ids lists, generation settings, ...) are kept; the modelled ones are
    /// overwritten. <paramref name="weightsDType"/> sets <c>torch_dtype</c>.
    /// </summary>
    public static JsonObject ToJsonObject(LlamaConfig config, JsonObject? original = null, DType? weightsDType = null)
    {
        var json = original?.DeepClone().AsObject() ?? [];
        json.TryAdd("architectures", new JsonArray(config.ModelType switch
        {
            "qwen2" => "Qwen2ForCausalLM",
            "mistral" => "MistralForCausalLM",
            _ => "LlamaForCausalLM",
        }));
        json["model_type"] = config.ModelType;
        json.TryAdd("hidden_act", "silu");
        json["hidden_size"] = config.HiddenSize;
        json["intermediate_size"] = config.IntermediateSize;
        json["num_hidden_layers"] = config.NumHiddenLayers;
        json["num_attention_heads"] = config.NumAttentionHeads;
        json["num_key_value_heads"] = config.NumKeyValueHeads;
        if (config.ExplicitHeadDim is { } headDim) json["head_dim"] = headDim;
        else json.Remove("head_dim");
        json["vocab_size"] = config.VocabSize;
        json["max_position_embeddings"] = config.MaxPositionEmbeddings;
        json["rms_norm_eps"] = Number(config.RmsNormEps);
        WriteRope(json, config);
        json["tie_word_embeddings"] = config.TieWordEmbeddings;
        if (config.ModelType != "qwen2") json["attention_bias"] = config.AttentionBias; // qwen2 has no such field
        SetTokenId(json, "bos_token_id", config.BosTokenId);
        SetTokenId(json, "eos_token_id", config.EosTokenId);
        if (weightsDType is { } dtype)
        {
            json["torch_dtype"] = dtype.TorchName();
            if (json.ContainsKey("dtype")) json["dtype"] = dtype.TorchName(); // newer transformers' spelling
        }
        WritePrunedSizes(json, config);
        return json;
    }

    private static void WriteRope(JsonObject json, LlamaConfig config)
    {
        var scaling = config.RopeScaling is { } rs
            ? new JsonObject
            {
                ["rope_type"] = rs.RopeType,
                ["factor"] = Number(rs.Factor),
                ["low_freq_factor"] = Number(rs.LowFreqFactor),
                ["high_freq_factor"] = Number(rs.HighFreqFactor),
                ["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings,
            }
            : null;
        if (json["rope_parameters"] is JsonObject)
        {
            // Newer transformers keep theta and scaling together; keep the file in the style it came in.
            var parameters = scaling ?? new JsonObject { ["rope_type"] = "default" };
            parameters["rope_theta"] = Number(config.RopeTheta);
            json["rope_parameters"] = parameters;
            json.Remove("rope_scaling");
            json.Remove("rope_theta");
            return;
        }
        json["rope_theta"] = Number(config.RopeTheta);
        json["rope_scaling"] = scaling;
    }

    /// <summary>Keeps an original list of ids (several eos ids) when its first entry is still the one configured.</summary>
    private static void SetTokenId(JsonObject json, string field, int? id)
    {
        if (json[field] is JsonArray { Count: > 0 } list && list[0] is JsonValue first &&
            first.TryGetValue<int>(out var firstId) && firstId == id)
            return;
        json[field] = id;
    }

    private static void WritePrunedSizes(JsonObject json, LlamaConfig config)
    {
        foreach (var field in PrunedFields) json.Remove(field);
        if (config.LayerIntermediateSizes is { } ffn)
        {
            json["modified_intermediate_dimension"] = IntList(ffn);
            json["pruned"] = true;
        }
        if (config.LayerAttentionHeads is not null || config.LayerKeyValueHeads is not null)
        {
            var layers = Enumerable.Range(0, config.NumHiddenLayers);
            json["modified_head_num"] = IntList(layers.Select(config.HeadsOf).ToList());
            json["layer_num_key_value_heads"] = IntList(layers.Select(config.KvHeadsOf).ToList());
            json["pruned_attn"] = true;
        }
    }

    private static JsonArray IntList(IReadOnlyList<int> values) => new(values.Select(v => (JsonNode?)v).ToArray());

    /// <summary>A float as the shortest decimal that reads back to it (1e-05, not 9.99999974737875E-06).</summary>
    private static JsonNode Number(float value) =>
        JsonValue.Create(double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
}
