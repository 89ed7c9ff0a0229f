using System.Globalization;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// The memory side of a placement: this machine's available memory, the in-process stage's schedule under a budget
/// (--memory, or what the machine has), and refusals up front that say the minimum the job needs.
/// </summary>
public static class MemoryPlan
{
    /// <summary>Bytes per element of the checkpoint's matrices (the embedding and layer 0's projections; the widest wins).</summary>
    public static int MatrixElementBytes(string modelPath)
    {
        using var checkpoint = Checkpoint.Open(modelPath);
        return MatrixElementBytes(checkpoint);
    }

    public static int MatrixElementBytes(Checkpoint checkpoint)
    {
        string[] names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"];
        return names.Where(checkpoint.Contains).Select(n => checkpoint.Info(n).DType.ElementSize()).DefaultIfEmpty(4).Max();
    }

    /// <summary>Bytes per element for a config.json's <c>torch_dtype</c> (what --dry-run knows without the weights): 2 for bfloat16/float16, else 4.</summary>
    public static int MatrixElementBytes(System.Text.Json.Nodes.JsonObject config) =>
        config["torch_dtype"]?.GetValue<string>() is "bfloat16" or "float16" ? 2 : 4;

    /// <summary>
    /// Memory this process may still grow into: MemAvailable (Linux) plus what it already holds, capped by the
    /// runtime's view of the machine or container limit.
    /// </summary>
    public static long AvailableBytes()
    {
        var limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["MemAvailable:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return Math.Min(limit, kb * 1024 + ProcessMemory.ResidentBytes());
                }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return limit;
    }

    /// <summary>The budget each of <paramref name="nodes"/> local node processes announces: 80% of the available memory, shared.</summary>
    public static long LocalNodeBudget(int nodes) => Math.Max(256L << 20, (long)(AvailableBytes() * 0.8) / nodes);

    /// <summary>The single in-process stage: its schedule under the budget, or a refusal with the minimum the job needs.</summary>
    public static StageAssignment InProcess(LlamaConfig config, PassShape pass, int elementBytes, long? budget, StageSchedule? forced)
    {
        var need = StageMemoryModel.Need(config, new StageExtent(0, config.NumHiddenLayers, true, true, elementBytes), pass);
        var limit = budget ?? AvailableBytes();
        var source = budget is null ? $"this machine's available memory ({ByteSizes.Format(limit)})" : $"--memory {ByteSizes.Format(limit)}";
        var schedule = forced is { } f ? (need.BytesFor(f) <= limit ? f : (StageSchedule?)null) : need.Choose(limit);
        if (schedule is null)
        {
            var minimum = forced is { } s ? need.BytesFor(s) : need.LayerBoundedBytes;
            throw new ArgumentException(
                $"{source} is below what this job needs in one process: at least {ByteSizes.Format(minimum)} ({minimum:N0} bytes) " +
                $"with the {(forced ?? StageSchedule.LayerBounded).Name()} schedule (all-layers {ByteSizes.Format(need.AllLayersBytes)}, " +
                $"layer-bounded {ByteSizes.Format(need.LayerBoundedBytes)}, weights {ByteSizes.Format(need.WeightBytes)}); " +
                "give a larger --memory, fewer or shorter calibration samples, a smaller --micro-batch, or split the model over nodes (--nodes, --listen)");
        }
        Log.Information("Memory: budget {Budget:N0} bytes ({Source}); the job needs {AllLayers:N0} (all-layers) or {Bounded:N0} (layer-bounded); schedule {Schedule}",
            limit, budget is null ? "available memory" : "--memory", need.AllLayersBytes, need.LayerBoundedBytes, schedule.Value.Name());
        return new StageAssignment(0, 0, config.NumHiddenLayers, true, true, need.BytesFor(schedule.Value), schedule.Value, need.AllLayersBytes, need.LayerBoundedBytes);
    }

    /// <summary>Forward-only work in this process (evaluate): refused up front when the models do not fit the budget.</summary>
    public static long CheckEvaluation(IReadOnlyList<(LlamaConfig Config, int ElementBytes)> models, int microBatch, int positions, long? budget)
    {
        var pass = new PassShape(microBatch, positions, microBatch, 1, ObjectiveKind.SequenceNll);
        var needs = models.Select(m => StageMemoryModel.Need(m.Config, new StageExtent(0, m.Config.NumHiddenLayers, true, true, m.ElementBytes), pass)).ToArray();
        // One runtime, every model's weights, the largest forward's workspace.
        var total = StageMemoryModel.RuntimeBytes + needs.Sum(n => n.WeightBytes) + needs.Max(n => n.AllLayersBytes - n.WeightBytes - n.RuntimeBytes);
        var limit = budget ?? AvailableBytes();
        if (total > limit)
            throw new ArgumentException($"{(budget is null ? "this machine's available memory" : "--memory")} {ByteSizes.Format(limit)} is below what this evaluation needs: " +
                                        $"at least {ByteSizes.Format(total)} ({total:N0} bytes; weights {ByteSizes.Format(needs.Sum(n => n.WeightBytes))})");
        Log.Information("Memory: evaluation needs {Need:N0} bytes of a {Budget:N0}-byte budget", total, limit);
        return total;
    }
}
