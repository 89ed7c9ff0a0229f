using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// One forward request of a micro-batch (tokens always travel: the head needs them for the loss). Variant 0 is the
/// dense model; variant k &gt; 0 runs with the k-th mask set of the last <see cref="IStage.LoadMasksAsync"/>.
/// </summary>
public sealed record ForwardStep(int MicroBatch, int[] Tokens, float[]? Hidden, int Batch, int Positions, ObjectiveKind Objective, int TotalSequences,
    int Variant = 0);

/// <summary>
/// A named tensor of the compacted model, as it streams back to the coordinator: its values come from
/// <see cref="Produce"/>, called once when the writer reaches it, so a stage compacts one tensor at a time.
/// Weights keep their stored dtype.
/// </summary>
public sealed record ShardTensor(string Name, long[] Shape, Func<WeightMatrix> Produce)
{
    /// <summary>A tensor whose values are already at hand.</summary>
    public ShardTensor(string name, long[] shape, WeightMatrix data) : this(name, shape, () => data) { }

    /// <summary>fp32 values already at hand.</summary>
    public ShardTensor(string name, long[] shape, float[] data) : this(name, shape, WeightMatrix.Wrap(data, 1, data.Length)) { }
}

/// <summary>
/// A pipeline stage holding a contiguous layer range: a <see cref="ShardWorker"/> in this process, or a node
/// elsewhere. Requests are processed one at a time in the order they are issued, so the caller controls ordering.
/// Failures surface as <see cref="StageFailedException"/> naming the stage.
/// </summary>
public interface IStage
{
    string Name { get; }
    StageDescriptor Descriptor { get; }
    Task BeginPassAsync(CancellationToken cancellation);
    /// <summary>The stage's cumulative compute time, for the pipeline's idle fraction.</summary>
    Task<TimeSpan> BusyTimeAsync(CancellationToken cancellation);
    Task<StepResult> ForwardAsync(ForwardStep step, CancellationToken cancellation);
    Task<float[]?> BackwardAsync(int microBatch, float[] dOutput, CancellationToken cancellation);
    Task<LayerScores[]> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation);
    Task<IReadOnlyList<ShardTensor>> CompactAsync(IReadOnlyList<LayerPlan> plan, CancellationToken cancellation);
    /// <summary>
    /// Masked evaluation: variants[k - 1] lists the kept units (a plan's part for this stage's layers) of forward
    /// variant k; an empty list clears them. Replaces the previous set.
    /// </summary>
    Task LoadMasksAsync(IReadOnlyList<IReadOnlyList<LayerPlan>> variants, CancellationToken cancellation);
}

public sealed class StageFailedException(string stage, string operation, string reason, Exception? inner = null, bool inputError = false)
    : Exception($"stage {stage} failed during {operation}: {reason}", inner)
{
    public string Stage { get; } = stage;
    public string Operation { get; } = operation;
    /// <summary>The stage found its input wrong (a corrupt checkpoint, say), as opposed to failing while running.</summary>
    public bool InputError { get; } = inputError || inner is InvalidDataException;
}

public static class ShardTensors
{
    /// <summary>The tensors a stage returns after compaction: its compacted layers plus embedding / norm / head it holds.</summary>
    public static IReadOnlyList<ShardTensor> Of(LlamaShard shard, IEnumerable<LayerWeights> layers) =>
        With(shard, layers.SelectMany(layer => layer.Tensors().Select(t => new ShardTensor(t.Name, t.Shape, t.Data))));

    /// <summary>
    /// The same list, each compacted layer tensor built from the held weights only when its producer is called
    /// (embedding, norm and head are passed on as held: they are never pruned).
    /// </summary>
    public static IReadOnlyList<ShardTensor> Compacted(LlamaShard shard, IReadOnlyList<LayerPlan> plan) =>
        With(shard, shard.Layers.SelectMany(layer =>
            Compactor.CompactTensors(layer, PlanFor(plan, layer.Index)).Select(t => new ShardTensor(t.Name, t.Shape, t.Produce))));

    public static LayerPlan PlanFor(IReadOnlyList<LayerPlan> plan, int layer) =>
        plan.SingleOrDefault(p => p.Layer == layer) ?? throw new ArgumentException($"the plan has no entry for layer {layer}");

    private static IReadOnlyList<ShardTensor> With(LlamaShard shard, IEnumerable<ShardTensor> layerTensors)
    {
        var result = new List<ShardTensor>();
        long v = shard.Vocab, d = shard.Hidden;
        if (shard.EmbedTokens is { } e) result.Add(new ShardTensor("model.embed_tokens.weight", [v, d], e));
        result.AddRange(layerTensors);
        if (shard.FinalNorm is { } n) result.Add(new ShardTensor("model.norm.weight", [d], n));
        if (shard.LmHead is { } h && !shard.Config.TieWordEmbeddings) result.Add(new ShardTensor("lm_head.weight", [v, d], h));
        return result;
    }
}
