using System.Runtime.CompilerServices;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// Stages in this process, each a <see cref="LocalStage"/> over a <see cref="ShardWorker"/>, driven by
/// <see cref="PipelineRunner"/>: no actors, no network. The reference every other placement is compared with.
/// </summary>
public sealed class InProcessPipeline(IReadOnlyList<LocalStage> stages) : IPipeline
{
    public IReadOnlyList<StageInfo> Stages { get; } = stages.Select(s => new StageInfo(s.Name, s.Descriptor)).ToArray();

    public static InProcessPipeline Of(params Engine.Model.LlamaShard[] shards) =>
        new(shards.Select((s, i) => new LocalStage($"local-{i}", new ShardWorker(s))).ToArray());

    public Task<PassResult> RunPassAsync(IReadOnlyList<int[]> sequences, int microBatchSize, ObjectiveKind objective, int maxInFlight,
        IProgress<PassProgress>? progress, CancellationToken cancellation) =>
        PipelineRunner.RunAsync(stages, sequences, microBatchSize, objective, maxInFlight, progress, cancellation);

    public Task<int[][]> GenerateAsync(IReadOnlyList<int[]> prompts, int newTokens, float temperature, int seed, IProgress<int>? progress,
        CancellationToken cancellation)
    {
        // The oracle decodes with the whole model, as one process would; split stages are what the cluster pipeline is for.
        if (stages.Count != 1) throw new NotSupportedException("the in-process oracle samples with the whole model in one stage");
        var done = 0;
        return Task.FromResult(Engine.Model.Generator.Generate(stages[0].Shard, prompts, newTokens, temperature, seed,
            onToken: progress is null ? null : (b, _) => { if (b == 0) progress.Report(++done); }));
    }

    public async Task<IReadOnlyList<LayerScores>> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation)
    {
        var perStage = await Task.WhenAll(stages.Select(s => s.ScoresAsync(method, seed, cancellation)));
        return perStage.SelectMany(s => s).OrderBy(s => s.Layer).ToArray();
    }

    public async IAsyncEnumerable<ShardTensor> CompactAsync(PruningPlan plan, [EnumeratorCancellation] CancellationToken cancellation)
    {
        foreach (var stage in stages)
            foreach (var tensor in await stage.CompactAsync(PruneJob.PartFor(stage.Descriptor, plan), cancellation))
                yield return tensor;
    }

    public async Task<IReadOnlyDictionary<string, string>> CompactIntoAsync(PruningPlan plan, string folder, DType dtype, CancellationToken cancellation)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < stages.Count; i++)
        {
            var file = ShardFiles.Name(i, stages.Count);
            var tensors = await stages[i].CompactAsync(PruneJob.PartFor(stages[i].Descriptor, plan), cancellation);
            SafeTensorsWriter.Write(Path.Combine(folder, file), tensors.Select(t => NamedTensor.FromWeight(t.Name, t.Shape, t.Produce)).ToArray(), dtype,
                new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in tensors) map[t.Name] = file;
        }
        return map;
    }

    /// <summary>
    /// Masked evaluation of candidate plans on a held-out set through these stages (<see cref="MaskedEvaluation"/>):
    /// KL(dense || candidate) and perplexity per candidate, without compacting any.
    /// </summary>
    public Task<MaskedEvaluationResult> EvaluateMaskedAsync(IReadOnlyList<int[]> heldOut, IReadOnlyList<IReadOnlyList<LayerPlan>> candidates,
        int microBatchSize, int maxInFlight, IProgress<PassProgress>? progress, CancellationToken cancellation) =>
        MaskedEvaluation.RunAsync(stages, heldOut, candidates, microBatchSize, maxInFlight, progress, cancellation);

    public async ValueTask DisposeAsync()
    {
        foreach (var s in stages) await s.DisposeAsync();
    }
}
