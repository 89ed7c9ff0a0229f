using System.Collections.Concurrent;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// A stage's compute thread: the work of one stage (loading, forward, backward, scoring, compaction) runs here one
/// item at a time, in the order it was queued, so the stage's <c>ShardWorker</c> is only ever touched by one
/// thread and the actor that owns it stays free to answer messages while a long step runs.
/// </summary>
internal sealed class StageCompute : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new();
    private readonly Thread _thread;

    public StageCompute(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = $"stage {name}" };
        _thread.Start();
    }

    /// <summary>Queues <paramref name="work"/>; the task completes with its result or its exception.</summary>
    public Task<T> Run<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _queue.Add(() =>
            {
                try { done.SetResult(work()); }
                catch (Exception e) { done.SetException(e); }
            });
        }
        catch (InvalidOperationException)
        {
            done.SetException(new ObjectDisposedException($"the compute thread of {_thread.Name} has stopped"));
        }
        return done.Task;
    }

    public Task Run(Action work) => Run(() => { work(); return true; });

    private void Loop()
    {
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        // Not joined: an item may be blocked in a long step; the thread is a background thread and ends after it.
    }
}
