using System.Text.Json;
using System.Text.Json.Nodes;

namespace NirvanaCluster.Pruning.Plan;

/// <summary>pruning-plan.json: snake_case fields, per-layer kept indices (ascending, 0-based, into the dense model) and scores.</summary>
public static class PlanJson
{
    public static string Serialize(PruningPlan plan, IReadOnlyDictionary<string, object?>? extra = null)
    {
        var root = new JsonObject
        {
            ["method"] = plan.Method,
            ["allocation"] = plan.Allocation,
            ["sparsity"] = plan.Sparsity,
            ["gamma"] = plan.Gamma,
            ["mlp_multiple"] = plan.MlpMultiple,
            ["budget"] = plan.Budget,
            ["attention_units_to_prune"] = plan.AttentionUnitsToPrune,
            ["mlp_neurons_to_prune"] = plan.MlpNeuronsToPrune,
            ["attention_threshold"] = Number(plan.AttentionThreshold),
            ["mlp_threshold"] = Number(plan.MlpThreshold),
            ["parameters_before"] = plan.ParametersBefore,
            ["parameters_after"] = plan.ParametersAfter,
            ["projection_weights_before"] = plan.ProjectionWeightsBefore,
            ["projection_weights_after"] = plan.ProjectionWeightsAfter,
            ["projection_sparsity"] = plan.ProjectionSparsity,
            ["kept_kv_groups_total"] = plan.KeptKvGroups,
            ["kept_mlp_neurons_total"] = plan.KeptNeurons,
        };
        if (extra is not null)
            foreach (var (key, value) in extra) root[key] = JsonSerializer.SerializeToNode(value);
        var layers = new JsonArray();
        foreach (var l in plan.Layers)
            layers.Add(new JsonObject
            {
                ["layer"] = l.Layer,
                ["kv_groups_before"] = l.KvGroupsBefore,
                ["mlp_neurons_before"] = l.NeuronsBefore,
                ["kept_kv_groups"] = new JsonArray(l.KeptKvGroups.Select(i => (JsonNode)i).ToArray()),
                ["kept_mlp_neurons"] = new JsonArray(l.KeptMlpNeurons.Select(i => (JsonNode)i).ToArray()),
                ["attention_scores"] = new JsonArray(l.AttentionScores.Select(s => (JsonNode?)s).ToArray()),
                ["mlp_scores"] = new JsonArray(l.MlpScores.Select(s => (JsonNode?)s).ToArray()),
            });
        root["layers"] = layers;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads back the kept indices (enough to re-apply a plan).</summary>
    public static IReadOnlyList<LayerPlan> ReadLayers(string path)
    {
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
            var layers = root["layers"]?.AsArray() ?? throw new InvalidDataException($"{path}: field 'layers' is missing");
            return layers.Select((n, i) => new LayerPlan(
                n!["layer"]!.GetValue<int>(), n["kv_groups_before"]!.GetValue<int>(), n["mlp_neurons_before"]!.GetValue<int>(),
                n["kept_kv_groups"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
                n["kept_mlp_neurons"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
                n["attention_scores"]?.AsArray().Select(x => x!.GetValue<double>()).ToArray() ?? [],
                n["mlp_scores"]?.AsArray().Select(x => x!.GetValue<double>()).ToArray() ?? [])).ToArray();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a valid pruning plan ({e.Message})", e);
        }
    }

    private static JsonNode? Number(double value) => double.IsFinite(value) ? value : null;
}
