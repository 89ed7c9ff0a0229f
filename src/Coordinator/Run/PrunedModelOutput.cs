using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// Writes one pruned model folder from a plan: the stages compact their layers and stream them back (or, with shared
/// output, write their shard files themselves). Shared by a single prune and each model of a sweep.
/// </summary>
internal static class PrunedModelOutput
{
    public static void Write(string outputDir, PrunedModelWriter.Inputs inputs, ClusterSession session, PruneJob job, bool sharedOutput,
        TimeSpan elapsed, CancellationToken cancellation)
    {
        var plan = inputs.Result.Plan;
        if (sharedOutput)
            PrunedModelWriter.WriteShared(outputDir, inputs, staging =>
            {
                // Each node writes its own shard file at once; the weight map names the file of every tensor.
                var files = session.Stages.Select((stage, i) =>
                {
                    var file = ClusterSession.ShardFileName(i, session.Stages.Count);
                    stage.SharedOutputFile = Path.Combine(staging, file);
                    stage.SharedOutputDType = inputs.DType.SafeTensorsName();
                    return (file, written: stage.CompactAsync(PruneJob.PartFor(stage.Descriptor, plan), cancellation));
                }).ToArray();
                Task.WhenAll(files.Select(f => f.written)).GetAwaiter().GetResult();
                return files.SelectMany(f => f.written.Result.Select(t => (t.Name, f.file))).ToDictionary(p => p.Name, p => p.file);
            }, elapsed);
        else
            PrunedModelWriter.Write(outputDir, inputs, job.CompactAsync(plan, cancellation), elapsed);
    }

    /// <summary>The unit scores a plan was made from (the plan keeps them per layer).</summary>
    public static LayerScores[] ScoresOf(Pruning.Plan.PruningPlan plan) =>
        plan.Layers.Select(l => new LayerScores(l.Layer, l.AttentionScores, l.MlpScores)).ToArray();
}
