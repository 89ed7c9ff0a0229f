using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Tests.Support;

/// <summary>What a pruning job produced, in bytes: the plan as written and every compacted tensor as written at a dtype.</summary>
public sealed record JobBytes(string PlanJson, IReadOnlyList<(string Name, byte[] Bytes)> Tensors)
{
    public void AssertSameAs(JobBytes other, string what)
    {
        Assert.True(PlanJson == other.PlanJson, $"{what}: the plans differ");
        Assert.Equal(Tensors.Select(t => t.Name), other.Tensors.Select(t => t.Name));
        foreach (var (a, b) in Tensors.Zip(other.Tensors))
            Assert.True(a.Bytes.AsSpan().SequenceEqual(b.Bytes), $"{what}: tensor {a.Name} differs");
    }
}

public static class JobRun
{
    /// <summary>Calibrates, scores, allocates and compacts through the given stages; tensors written as <paramref name="dtype"/>.</summary>
    public static async Task<JobBytes> RunAsync(LlamaConfig config, IReadOnlyList<IStage> stages, IReadOnlyList<int[]> sequences,
        PruningMethod method, DType dtype, int microBatch = 2, double sparsity = 0.3)
    {
        var options = new PruneOptions { Sparsity = sparsity, Gamma = 1.5, Method = method, MicroBatchSize = microBatch };
        var pipeline = new InProcessPipeline(stages.Cast<LocalStage>().ToArray());
        var job = new PruneJob(config, pipeline, options);
        var result = await job.PlanAsync(sequences);
        var tensors = new List<(string, byte[])>();
        await foreach (var t in pipeline.CompactAsync(result.Plan, CancellationToken.None))
        {
            // As the writer stores it: the held bits when the dtypes agree, else widened and rounded to the dtype.
            var weight = t.Produce();
            var stored = weight.DType == dtype ? weight : weight.ConvertTo(dtype);
            tensors.Add((t.Name, stored.Rows == 0 ? [] : stored.BytesOfRows(0, stored.Rows).ToArray()));
        }
        var extras = new Dictionary<string, object?> { ["objective"] = result.Calibration?.Objective };
        return new JobBytes(PlanJson.Serialize(result.Plan, extras), tensors);
    }

    /// <summary>The scores a plan was built from, for bitwise comparisons.</summary>
    public static JsonArray Layers(string planJson) => JsonNode.Parse(planJson)!["layers"]!.AsArray();
}
