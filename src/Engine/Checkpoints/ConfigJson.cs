using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Hugging Face <c>config.json</c> &lt;-&gt; <see cref="LlamaConfig"/> for model types llama, qwen2 and mistral,
/// including the per-layer sizes of a pruned model: the authors' <c>modified_head_num</c> (query heads),
/// <c>modified_intermediate_dimension</c>, <c>pruned</c>, <c>pruned_attn</c>, and our explicit
/// <c>layer_num_key_value_heads</c>. Every error is an <see cref="InvalidDataException"/> naming file and field.
/// </summary>
public static partial class ConfigJson
{
    public const string FileName = "config.json";

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: keep text readable
    };

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    public static LlamaConfig Read(string path) => FromJson(ReadObject(path), path);

    /// <summary>Parses config text; <paramref name="source"/> is named in errors.</summary>
    public static LlamaConfig Parse(string json, string source = FileName) => FromJson(ParseObject(json, source), source);

    /// <summary>The raw JSON object of a config file, e.g. to pass back to <see cref="Write"/> so unknown fields survive.</summary>
    public static JsonObject ReadObject(string path) => ParseObject(File.ReadAllText(path), path);

    public static JsonObject ParseObject(string json, string source)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
            if (node is JsonObject o) _ = o.Count; // materialize now so duplicate keys fail here, not later
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: not valid JSON: {e.Message}", e);
        }
        return node as JsonObject ?? throw new InvalidDataException($"{source}: must hold a JSON object (got {node?.GetValueKind().ToString() ?? "null"})");
    }

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/>; see <see cref="ToJsonObject"/>.</summary>
    public static void Write(string path, LlamaConfig config, JsonObject? original = null, DType? weightsDType = null)
    {
        var text = ToJsonObject(config, original, weightsDType).ToJsonString(WriteOptions) + "\n";
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            File.WriteAllText(temporary, text);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
