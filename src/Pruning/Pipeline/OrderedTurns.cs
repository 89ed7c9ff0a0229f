namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// Issues requests to one stage in micro-batch order although micro-batches run concurrently: request i is
/// issued only after request i-1 was issued. Stages serve requests in issue order, so every stage sees the same
/// order wherever it runs, and gradient sums are reproducible.
/// </summary>
internal sealed class OrderedTurns
{
    private readonly TaskCompletionSource[] _issued;

    public OrderedTurns(int count)
    {
        _issued = new TaskCompletionSource[count];
        for (var i = 0; i < count; i++) _issued[i] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async Task<T> IssueAsync<T>(int index, Func<Task<T>> send, CancellationToken cancellation)
    {
        if (index > 0) await _issued[index - 1].Task.WaitAsync(cancellation);
        Task<T> pending;
        try { pending = send(); }
        finally { _issued[index].TrySetResult(); }
        return await pending.WaitAsync(cancellation);
    }
}
