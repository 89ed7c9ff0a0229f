using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// Writes one pruned model folder from a plan: the stages compact their layers and stream them back (or, with shared
/// output, write their shard files themselves). Shared by a single prune and each model of a sweep.
/// </summary>
internal static class PrunedModelOutput
{
    public static void Write(string outputDir, PrunedModelWriter.Inputs inputs, IPipeline pipeline, bool sharedOutput, TimeSpan elapsed,
        CancellationToken cancellation)
    {
        var plan = inputs.Result.Plan;
        if (sharedOutput)
            PrunedModelWriter.WriteShared(outputDir, inputs, staging => pipeline.CompactIntoAsync(plan, staging, inputs.DType, cancellation), elapsed);
        else
            PrunedModelWriter.Write(outputDir, inputs, pipeline.CompactAsync(plan, cancellation), elapsed);
    }

    /// <summary>The unit scores a plan was made from (the plan keeps them per layer).</summary>
    public static LayerScores[] ScoresOf(Pruning.Plan.PruningPlan plan) =>
        plan.Layers.Select(l => new LayerScores(l.Layer, l.AttentionScores, l.MlpScores)).ToArray();
}
