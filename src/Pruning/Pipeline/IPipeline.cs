using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>A stage as a job sees it: its name (the node that holds it) and its layers.</summary>
public sealed record StageInfo(string Name, StageDescriptor Descriptor);

/// <summary>
/// The model's stages, wherever they run, at the level of a whole job step: a pass over micro-batches (calibration
/// or evaluation), the unit scores, and compaction. <see cref="InProcessPipeline"/> runs the stages in this process
/// and is the oracle; the coordinator's cluster pipeline runs them as actors on nodes, with activations flowing stage
/// to stage. Both give byte-identical results for the same inputs.
/// </summary>
public interface IPipeline : IAsyncDisposable
{
    IReadOnlyList<StageInfo> Stages { get; }

    /// <summary>One pass: each micro-batch forward through every stage, and backward for a gradient objective.</summary>
    Task<PassResult> RunPassAsync(IReadOnlyList<int[]> sequences, int microBatchSize, ObjectiveKind objective, int maxInFlight,
        IProgress<PassProgress>? progress, CancellationToken cancellation);

    /// <summary>
    /// Continues equal-length prompts by <paramref name="newTokens"/> tokens, sequence i sampling with seed + i at
    /// <paramref name="temperature"/>: exactly what <see cref="Engine.Model.Generator"/> gives with the whole model in
    /// one process. <paramref name="progress"/> counts the new tokens of the first sequence.
    /// </summary>
    Task<int[][]> GenerateAsync(IReadOnlyList<int[]> prompts, int newTokens, float temperature, int seed, IProgress<int>? progress,
        CancellationToken cancellation);

    /// <summary>
    /// Masked evaluation of candidate plans on a held-out set (<see cref="MaskedEvaluation"/>): KL(dense || candidate)
    /// and perplexity per candidate, without compacting any.
    /// </summary>
    Task<MaskedEvaluationResult> EvaluateMaskedAsync(IReadOnlyList<int[]> heldOut, IReadOnlyList<IReadOnlyList<LayerPlan>> candidates,
        int microBatchSize, int maxInFlight, IProgress<PassProgress>? progress, CancellationToken cancellation);

    /// <summary>Unit scores of every layer, in layer order (the gradient criteria need a pass first).</summary>
    Task<IReadOnlyList<LayerScores>> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation);

    /// <summary>The compacted model's tensors, streamed back stage by stage in checkpoint order.</summary>
    IAsyncEnumerable<ShardTensor> CompactAsync(PruningPlan plan, CancellationToken cancellation);

    /// <summary>
    /// Shared storage: each stage writes its compacted tensors into its own safetensors file in
    /// <paramref name="folder"/> (named by <see cref="ShardFiles.Name"/>); returns tensor name -> file name.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> CompactIntoAsync(PruningPlan plan, string folder, DType dtype, CancellationToken cancellation);
}

public static class ShardFiles
{
    /// <summary>The file stage <paramref name="index"/> of <paramref name="count"/> writes with shared output.</summary>
    public static string Name(int index, int count) => $"model-{index + 1:D5}-of-{count:D5}.safetensors";
}
