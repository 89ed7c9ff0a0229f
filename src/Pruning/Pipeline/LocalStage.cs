using System.Threading.Channels;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// A stage in this process: requests queue in a channel and one loop serves them in issue order, like an
/// actor's mailbox, so several micro-batches can be in flight across stages while each stage works serially.
/// </summary>
public sealed class LocalStage : IStage, IAsyncDisposable
{
    private readonly ShardWorker _worker;
    private readonly Channel<Func<Task>> _mailbox = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public LocalStage(string name, ShardWorker worker)
    {
        Name = name;
        _worker = worker;
        Descriptor = worker.Descriptor;
        _loop = Task.Run(async () =>
        {
            await foreach (var work in _mailbox.Reader.ReadAllAsync()) await work();
        });
    }

    public string Name { get; }

    /// <summary>The stage's layers, for work that needs the shard itself (the oracle's sampling).</summary>
    public Engine.Model.LlamaShard Shard => _worker.Shard;
    public StageDescriptor Descriptor { get; }

    public Task BeginPassAsync(CancellationToken cancellation) => Post("begin-pass", () => { _worker.BeginPass(); return true; });
    public Task<TimeSpan> BusyTimeAsync(CancellationToken cancellation) => Post("busy-time", () => _worker.BusyTime);
    public Task<StepResult> ForwardAsync(ForwardStep s, CancellationToken cancellation) =>
        Post("forward", () => _worker.Forward(s.MicroBatch, s.Tokens, s.Hidden, s.Batch, s.Positions, s.Objective, s.TotalSequences, s.Variant));
    public Task<float[]?> BackwardAsync(int microBatch, float[] dOutput, CancellationToken cancellation) =>
        Post("backward", () => _worker.Backward(microBatch, dOutput));
    public Task<LayerScores[]> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation) =>
        Post("scoring", () => _worker.Scores(method, seed));
    public Task<IReadOnlyList<ShardTensor>> CompactAsync(IReadOnlyList<LayerPlan> plan, CancellationToken cancellation) =>
        Post("compaction", () => _worker.CompactTensors(plan));
    public Task LoadMasksAsync(IReadOnlyList<IReadOnlyList<LayerPlan>> variants, CancellationToken cancellation) =>
        Post("load-masks", () => { _worker.LoadMasks(variants); return true; });

    private Task<T> Post<T>(string operation, Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var accepted = _mailbox.Writer.TryWrite(() =>
        {
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(new StageFailedException(Name, operation, e.Message, e)); }
            return Task.CompletedTask;
        });
        if (!accepted) done.SetException(new StageFailedException(Name, operation, "the stage is shut down"));
        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        _mailbox.Writer.TryComplete();
        await _loop;
    }
}
