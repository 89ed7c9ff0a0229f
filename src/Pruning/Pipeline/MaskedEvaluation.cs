using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>One candidate's quality on the held-out set, measured with its removed units masked in the dense model.</summary>
public sealed record VariantQuality(double Kl, double Perplexity, double MeanNll);

/// <summary>The dense model's perplexity on the same set, and each candidate's quality, in the order given.</summary>
public sealed record MaskedEvaluationResult(double DensePerplexity, IReadOnlyList<VariantQuality> Candidates, int Sequences, int Positions);

/// <summary>
/// Scores candidate plans without compacting them: each stage gets every candidate's kept units for its layers
/// (<see cref="IStage.LoadMasksAsync"/>); then, per micro-batch of the held-out set, the dense variant 0 and each
/// candidate k = 1..K run through the stages in that order (<see cref="ObjectiveKind.KlToDense"/>). The head keeps
/// only that micro-batch's dense logits until its last variant is done, so memory stays at a few micro-batches of
/// [B,T,V] whatever the set's size. Several (micro-batch, variant) steps are in flight, issued to every stage in
/// one order; per-sequence sums are added up in sequence order, so results do not depend on placement.
/// </summary>
public static class MaskedEvaluation
{
    public static async Task<MaskedEvaluationResult> RunAsync(IReadOnlyList<IStage> stages, IReadOnlyList<int[]> heldOut,
        IReadOnlyList<IReadOnlyList<LayerPlan>> candidates, int microBatchSize, int maxInFlight = 4,
        IProgress<PassProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (stages.Count == 0) throw new ArgumentException("no stages");
        if (heldOut.Count == 0) throw new ArgumentException("the held-out set is empty");
        var positions = heldOut[0].Length;
        if (positions < 2) throw new ArgumentException("held-out sequences need at least two tokens");
        if (heldOut.Any(s => s.Length != positions)) throw new ArgumentException("all held-out sequences must have the same length");
        if (microBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be positive");
        var variants = candidates.Count + 1;
        var microBatches = (heldOut.Count + microBatchSize - 1) / microBatchSize;
        var steps = microBatches * variants;
        var nll = new double[variants][];
        var kl = new double[variants][];
        for (var v = 0; v < variants; v++) (nll[v], kl[v]) = (new double[heldOut.Count], new double[heldOut.Count]);

        await Task.WhenAll(stages.Select(s => s.LoadMasksAsync(
            candidates.Select(c => (IReadOnlyList<LayerPlan>)c.Where(l => l.Layer >= s.Descriptor.FirstLayer && l.Layer < s.Descriptor.EndLayer).ToArray()).ToArray(),
            cancellation)));
        var turns = stages.Select(_ => new OrderedTurns(steps)).ToArray();
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var throttle = new SemaphoreSlim(maxInFlight);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var done = 0;

        async Task RunStep(int index)
        {
            await throttle.WaitAsync(failed.Token);
            try
            {
                int mb = index / variants, variant = index % variants;
                var first = mb * microBatchSize;
                var batch = Math.Min(microBatchSize, heldOut.Count - first);
                var ids = new int[batch * positions];
                for (var b = 0; b < batch; b++) heldOut[first + b].CopyTo(ids, b * positions);
                float[]? hidden = null;
                StepResult? step = null;
                for (var s = 0; s < stages.Count; s++)
                {
                    var request = new ForwardStep(mb, ids, hidden, batch, positions, ObjectiveKind.KlToDense, heldOut.Count, variant);
                    var stage = stages[s];
                    step = await turns[s].IssueAsync(index, () => stage.ForwardAsync(request, failed.Token), failed.Token);
                    hidden = step.Tensor;
                }
                var sequenceNll = step!.SequenceNll ?? throw new InvalidOperationException($"stage {stages[^1].Name} returned no NLL for micro-batch {mb}");
                sequenceNll.CopyTo(nll[variant], first);
                step.SequenceKl?.CopyTo(kl[variant], first);
                var finished = Interlocked.Increment(ref done);
                progress?.Report(new PassProgress(finished, steps, (long)finished * microBatchSize * positions, clock.Elapsed));
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
            finally
            {
                throttle.Release();
            }
        }

        var all = Enumerable.Range(0, steps).Select(RunStep).ToArray();
        try
        {
            await Task.WhenAll(all);
        }
        catch
        {
            var root = all.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).FirstOrDefault(e => e is not OperationCanceledException);
            if (root is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(root);
            throw;
        }
        await Task.WhenAll(stages.Select(s => s.LoadMasksAsync([], cancellation))); // release the masks

        return Summarize(nll, kl, heldOut.Count, positions);
    }

    /// <summary>
    /// The result from each variant's per-sequence sums (variant 0 the dense model): sums taken in sequence order, so
    /// every pipeline that runs the same steps gives the same numbers.
    /// </summary>
    public static MaskedEvaluationResult Summarize(IReadOnlyList<double[]> nll, IReadOnlyList<double[]> kl, int sequences, int positions)
    {
        long predicted = (long)sequences * (positions - 1), rows = (long)sequences * positions;
        VariantQuality Quality(int v)
        {
            var meanNll = Sum(nll[v]) / predicted;
            return new VariantQuality(Sum(kl[v]) / rows, Math.Exp(meanNll), meanNll);
        }
        return new MaskedEvaluationResult(Quality(0).Perplexity, Enumerable.Range(1, nll.Count - 1).Select(Quality).ToArray(), sequences, positions);
    }

    /// <summary>Sequence order, so the total never depends on which micro-batch finished first.</summary>
    private static double Sum(double[] values)
    {
        double total = 0;
        foreach (var v in values) total += v;
        return total;
    }
}
