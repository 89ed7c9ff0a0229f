using System.Text.Json;
using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Checkpoints;

public static partial class ConfigJson
{
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["llama", "qwen2", "mistral"];

    /// <summary>Builds and validates a config from a parsed config.json object.</summary>
    public static LlamaConfig FromJson(JsonObject json, string source = FileName)
    {
        var f = new Fields(json, source);
        var modelType = f.RequiredString("model_type");
        if (!SupportedModelTypes.Contains(modelType))
            throw f.Error("model_type", $"is '{modelType}': unsupported architecture (supported: {string.Join(", ", SupportedModelTypes)})");
        if (f.OptionalString("hidden_act") is { } act && act != "silu")
            throw f.Error("hidden_act", $"must be 'silu' for a Llama-family MLP (got '{act}')");
        if (f.OptionalBool("mlp_bias") == true)
            throw f.Error("mlp_bias", "is true: MLP biases are not supported");

        var heads = f.RequiredInt("num_attention_heads");
        var layers = f.RequiredInt("num_hidden_layers");
        var (ropeTheta, ropeScaling) = ReadRope(f);
        var (layerHeads, layerKvHeads, layerFfn) = ReadPrunedSizes(f);
        return new LlamaConfig
        {
            ModelType = modelType,
            HiddenSize = f.RequiredInt("hidden_size"),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = f.OptionalInt("num_key_value_heads") ?? heads,
            IntermediateSize = f.RequiredInt("intermediate_size"),
            VocabSize = f.RequiredInt("vocab_size"),
            ExplicitHeadDim = f.OptionalInt("head_dim"),
            RmsNormEps = f.OptionalFloat("rms_norm_eps") ?? 1e-6f, // transformers' default for all three types
            RopeTheta = ropeTheta,
            RopeScaling = ropeScaling,
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? false,
            // Qwen2 always has q/k/v biases and has no field for it; Llama says so in attention_bias.
            AttentionBias = modelType == "qwen2" || (f.OptionalBool("attention_bias") ?? false),
            // Llama's attention_bias biases o_proj as well; Qwen2's implicit biases stop at q/k/v.
            AttentionOutputBias = modelType != "qwen2" && (f.OptionalBool("attention_bias") ?? false),
            MaxPositionEmbeddings = f.OptionalInt("max_position_embeddings") ?? modelType switch
            {
                "qwen2" => 32768,
                "mistral" => 131072,
                _ => 2048,
            },
            BosTokenId = f.OptionalTokenId("bos_token_id"),
            EosTokenId = f.OptionalTokenId("eos_token_id"),
            LayerAttentionHeads = layerHeads,
            LayerKeyValueHeads = layerKvHeads,
            LayerIntermediateSizes = layerFfn,
        }.Validated(source);
    }

    /// <summary>rope_theta + rope_scaling, or the newer <c>rope_parameters</c> object that holds both.</summary>
    private static (float Theta, RopeScaling? Scaling) ReadRope(Fields f)
    {
        if (f.OptionalObject("rope_parameters") is { } parameters)
        {
            var p = f.Nested(parameters, "rope_parameters");
            return (p.OptionalFloat("rope_theta") ?? f.OptionalFloat("rope_theta") ?? 10000f, ReadScaling(p, "rope_parameters"));
        }
        var theta = f.OptionalFloat("rope_theta") ?? 10000f;
        return f.OptionalObject("rope_scaling") is { } scaling
            ? (theta, ReadScaling(f.Nested(scaling, "rope_scaling"), "rope_scaling"))
            : (theta, null);
    }

    private static RopeScaling? ReadScaling(Fields s, string field)
    {
        var type = s.OptionalString("rope_type") ?? s.OptionalString("type");
        switch (type)
        {
            case null or "default":
                return null;
            case "llama3":
                return new RopeScaling(
                    "llama3",
                    s.RequiredFloat("factor"),
                    s.RequiredFloat("low_freq_factor"),
                    s.RequiredFloat("high_freq_factor"),
                    s.RequiredInt("original_max_position_embeddings"));
            default:
                throw s.Error("rope_type", $"is '{type}': only 'llama3' (or 'default') rope scaling is supported");
        }
    }

    private static (int[]? Heads, int[]? KvHeads, int[]? Ffn) ReadPrunedSizes(Fields f)
    {
        var ffn = PerLayer(f, "modified_intermediate_dimension", "pruned");
        var heads = PerLayer(f, "modified_head_num", "pruned_attn");
        var kvHeads = f.OptionalIntList("layer_num_key_value_heads") is { Length: > 0 } kv ? kv : null;
        if (kvHeads is not null && heads is null)
            throw f.Error("layer_num_key_value_heads", "is given without modified_head_num (query heads per layer)");
        return (heads, kvHeads, ffn);
    }

    /// <summary>
    /// The authors save <c>pruned: true</c> / <c>pruned_attn: true</c> with the lists and leave empty lists in a
    /// dense config; a list that contradicts its flag is an error rather than a guess.
    /// </summary>
    private static int[]? PerLayer(Fields f, string listField, string flagField)
    {
        var list = f.OptionalIntList(listField) is { Length: > 0 } l ? l : null;
        var flag = f.OptionalBool(flagField);
        if (flag == true && list is null)
            throw f.Error(listField, $"is required (with one entry per layer) when '{flagField}' is true");
        if (flag == false && list is not null)
            throw f.Error(flagField, $"is false but '{listField}' lists per-layer sizes");
        return list;
    }

    /// <summary>Typed access to one JSON object's fields with errors naming file and field.</summary>
    private sealed class Fields(JsonObject json, string source, string prefix = "")
    {
        public Fields Nested(JsonObject inner, string field) => new(inner, source, prefix + field + ".");

        public InvalidDataException Error(string field, string message) => new($"{source}: field '{prefix}{field}' {message}");

        private JsonNode? Get(string field) => json.TryGetPropertyValue(field, out var node) ? node : null;

        /// <summary>The field's scalar value when present and not null; <paramref name="kinds"/> are the JSON kinds accepted.</summary>
        private JsonElement? Value(string field, string expected, params JsonValueKind[] kinds)
        {
            var node = Get(field);
            if (node is null) return null;
            if (node is not JsonValue value || !kinds.Contains(value.GetValueKind()))
                throw Error(field, $"must be {expected} (got {Describe(node)})");
            return JsonSerializer.SerializeToElement(value);
        }

        public string RequiredString(string field) => OptionalString(field) ?? throw Error(field, "is required");
        public string? OptionalString(string field) => Value(field, "a string", JsonValueKind.String)?.GetString();

        public int RequiredInt(string field) => OptionalInt(field) ?? throw Error(field, "is required");
        public int? OptionalInt(string field)
        {
            if (Value(field, "an integer", JsonValueKind.Number) is not { } e) return null;
            return AsInt(e) ?? throw Error(field, $"must be an integer within 32 bits (got {e.GetRawText()})");
        }

        public float RequiredFloat(string field) => OptionalFloat(field) ?? throw Error(field, "is required");
        public float? OptionalFloat(string field)
        {
            if (Value(field, "a number", JsonValueKind.Number) is not { } e) return null;
            var d = e.GetDouble();
            return double.IsFinite(d) && Math.Abs(d) <= float.MaxValue
                ? (float)d
                : throw Error(field, $"must be a finite single-precision number (got {e.GetRawText()})");
        }

        public bool? OptionalBool(string field) => Value(field, "true or false", JsonValueKind.True, JsonValueKind.False)?.GetBoolean();

        public JsonObject? OptionalObject(string field) => Get(field) switch
        {
            null => null,
            JsonObject o => o,
            var other => throw Error(field, $"must be an object or null (got {Describe(other)})"),
        };

        public int[]? OptionalIntList(string field)
        {
            switch (Get(field))
            {
                case null:
                    return null;
                case JsonArray array:
                    var values = new int[array.Count];
                    for (var i = 0; i < values.Length; i++)
                        values[i] = array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number &&
                                    AsInt(JsonSerializer.SerializeToElement(v)) is { } n
                            ? n
                            : throw Error($"{field}[{i}]", $"must be an integer (got {Describe(array[i])})");
                    return values;
                case var other:
                    throw Error(field, $"must be a list of integers (got {Describe(other)})");
            }
        }

        /// <summary>A token id, or a list of them (Llama-3.1 instruct lists several eos ids): the first is taken.</summary>
        public int? OptionalTokenId(string field) => Get(field) switch
        {
            JsonArray { Count: 0 } => null,
            JsonArray => OptionalIntList(field)![0],
            _ => OptionalInt(field),
        };

        private static int? AsInt(JsonElement e)
        {
            if (e.TryGetInt32(out var i)) return i;
            // 2048.0 is an integer written by a float-minded tool; accept it, but not 2048.5
            return e.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d : null;
        }

        private static string Describe(JsonNode? node) => node switch
        {
            null => "null",
            JsonValue v => $"{v.GetValueKind()} {v.ToJsonString()}",
            _ => node.GetValueKind().ToString(),
        };
    }
}
