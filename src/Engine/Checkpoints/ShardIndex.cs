using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// <c>model.safetensors.index.json</c> of a sharded checkpoint: <c>{"metadata": {"total_size": N},
/// "weight_map": {tensor: shard file}}</c>. Shard names must be plain file names inside the checkpoint folder.
/// </summary>
internal sealed record ShardIndex(IReadOnlyDictionary<string, string> WeightMap, long? TotalSize)
{
    public const string FileName = "model.safetensors.index.json";

    public static ShardIndex Read(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new InvalidDataException($"{path}: must hold a JSON object");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
        if (root["weight_map"] is not JsonObject map)
            throw new InvalidDataException($"{path}: field 'weight_map' must be an object of tensor -> shard file");
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tensor, node) in map)
        {
            if (node is not JsonValue value || !value.TryGetValue<string>(out var shard) || !IsPlainFileName(shard))
                throw new InvalidDataException($"{path}: field 'weight_map.{tensor}' must be a shard file name in the same folder (got {node?.ToJsonString() ?? "null"})");
            weightMap[tensor] = shard;
        }
        long? totalSize = null;
        if (root["metadata"] is JsonObject metadata && metadata["total_size"] is JsonValue total)
            totalSize = total.TryGetValue<long>(out var t) ? t
                : total.TryGetValue<double>(out var d) ? (long)d // torch writes it as a float in some versions
                : throw new InvalidDataException($"{path}: field 'metadata.total_size' must be a number");
        return new ShardIndex(weightMap, totalSize);
    }

    public void Write(string path)
    {
        var json = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = TotalSize },
            ["weight_map"] = new JsonObject(WeightMap.OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }) + "\n");
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && Path.GetFileName(name) == name &&
        name.IndexOfAny(['/', '\\']) < 0;
}
