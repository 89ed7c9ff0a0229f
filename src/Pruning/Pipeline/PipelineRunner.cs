using System.Diagnostics;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>Progress of a pass over micro-batches.</summary>
public sealed record PassProgress(int MicroBatchesDone, int MicroBatches, long TokensDone, TimeSpan Elapsed)
{
    public double TokensPerSecond => Elapsed.TotalSeconds > 0 ? TokensDone / Elapsed.TotalSeconds : 0;
    public TimeSpan? Remaining => MicroBatchesDone == 0 ? null : Elapsed * ((double)(MicroBatches - MicroBatchesDone) / MicroBatchesDone);
}

/// <summary>
/// What a pass produced: the objective's total, each sequence's NLL (evaluation), and the mean fraction of the
/// wall time the stages sat idle (0 for perfect overlap; a single stage is idle only while the driver works).
/// </summary>
public sealed record PassResult(double Objective, double[] SequenceNll, double IdleFraction);

/// <summary>
/// Drives micro-batches through the stages: forward stage by stage, then (for a gradient pass) backward in
/// reverse, with several micro-batches in flight so that stages work concurrently. The first failure cancels
/// the rest and is rethrown.
/// </summary>
public static class PipelineRunner
{
    public static async Task<PassResult> RunAsync(IReadOnlyList<IStage> stages, IReadOnlyList<int[]> sequences, int microBatchSize,
        ObjectiveKind objective, int maxInFlight = 4, IProgress<PassProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (stages.Count == 0) throw new ArgumentException("no stages");
        if (sequences.Count == 0) throw new ArgumentException("no sequences");
        var positions = sequences[0].Length;
        if (sequences.Any(s => s.Length != positions)) throw new ArgumentException("all sequences of a pass must have the same length");
        if (microBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be positive");
        var count = (sequences.Count + microBatchSize - 1) / microBatchSize;
        var forwardTurns = stages.Select(_ => new OrderedTurns(count)).ToArray();
        var backwardTurns = stages.Select(_ => new OrderedTurns(count)).ToArray();
        var nll = new double[sequences.Count];
        var objectives = new double[count];
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var throttle = new SemaphoreSlim(maxInFlight);
        var clock = Stopwatch.StartNew();
        var done = 0;
        long tokens = 0;

        if (objective.HasGradient())
            await Task.WhenAll(stages.Select(s => s.BeginPassAsync(failed.Token)));
        var busyBefore = await Task.WhenAll(stages.Select(s => s.BusyTimeAsync(failed.Token)));

        async Task RunMicroBatch(int mb)
        {
            await throttle.WaitAsync(failed.Token);
            try
            {
                var first = mb * microBatchSize;
                var batch = Math.Min(microBatchSize, sequences.Count - first);
                var ids = new int[batch * positions];
                for (var b = 0; b < batch; b++) sequences[first + b].CopyTo(ids, b * positions);
                float[]? hidden = null;
                StepResult? step = null;
                for (var s = 0; s < stages.Count; s++)
                {
                    var request = new ForwardStep(mb, ids, hidden, batch, positions, objective, sequences.Count);
                    var stage = stages[s];
                    step = await forwardTurns[s].IssueAsync(mb, () => stage.ForwardAsync(request, failed.Token), failed.Token);
                    hidden = step.Tensor;
                }
                objectives[mb] = step!.Objective;
                if (step.SequenceNll is { } perSequence) perSequence.CopyTo(nll, first);
                if (objective.HasGradient())
                {
                    var dx = step.Tensor;
                    for (var s = stages.Count - 2; s >= 0; s--)
                    {
                        var stage = stages[s];
                        var gradient = dx;
                        dx = await backwardTurns[s].IssueAsync(mb, () => stage.BackwardAsync(mb, gradient, failed.Token), failed.Token) ?? [];
                    }
                }
                var finished = Interlocked.Increment(ref done);
                var seen = Interlocked.Add(ref tokens, (long)batch * positions);
                progress?.Report(new PassProgress(finished, count, seen, clock.Elapsed));
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

        var all = Enumerable.Range(0, count).Select(RunMicroBatch).ToArray();
        try
        {
            await Task.WhenAll(all);
        }
        catch
        {
            // Report the root cause, not the cancellations it triggered in other micro-batches.
            var root = all.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions)
                .FirstOrDefault(e => e is not OperationCanceledException);
            if (root is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(root);
            throw;
        }
        var wall = clock.Elapsed;
        var busyAfter = await Task.WhenAll(stages.Select(s => s.BusyTimeAsync(cancellation)));
        var meanBusy = busyAfter.Zip(busyBefore, (a, b) => (a - b).TotalSeconds).Average();
        var idle = wall.TotalSeconds > 0 ? Math.Clamp(1 - meanBusy / wall.TotalSeconds, 0, 1) : 0;
        return new PassResult(objectives.Sum(), nll, idle);
    }
}
