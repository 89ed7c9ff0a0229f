using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>Reading the stages' replies: each step waits for its answers, and a failure or a lost node ends the wait.</summary>
public sealed partial class ClusterPipeline
{
    /// <summary>A stage's node was lost: what recovery (or, without it, the error) needs to know.</summary>
    private sealed class StageLostException(int stage, NodeInfo node, LossKind kind, string reason, string doing)
        : Exception($"node {node} was lost during {doing}: {reason}")
    {
        public int Stage { get; } = stage;
        public NodeInfo Node { get; } = node;
        public LossKind Kind { get; } = kind;
        public string Reason { get; } = reason;
        public string Doing { get; } = doing;
    }

    /// <summary>Waits for one reply of type <typeparamref name="T"/> from each of <paramref name="stages"/>.</summary>
    private async Task<T?[]> GatherAsync<T>(IReadOnlyList<int> stages, Func<int, string> doing, CancellationToken cancellation, long? passId = null) where T : class
    {
        var replies = new T?[_stages.Length];
        var missing = stages.Count;
        while (missing > 0)
        {
            var reply = await ReadAsync(cancellation);
            var i = _refs.IndexOf(reply.Sender);
            if (reply.Message is T t && i >= 0 && stages.Contains(i) && replies[i] is null)
            {
                replies[i] = t;
                missing--;
            }
            else await UnexpectedAsync(reply, doing(i), cancellation, passId);
        }
        return replies;
    }

    private async Task<T> ReadStageReplyAsync<T>(int stage, string doing, CancellationToken cancellation) where T : class
    {
        while (true)
        {
            var reply = await ReadAsync(cancellation);
            if (reply.Message is T t && _refs.IndexOf(reply.Sender) == stage) return t;
            await UnexpectedAsync(reply, doing, cancellation);
        }
    }

    private Task<ReplyInbox.Reply> ReadAsync(CancellationToken cancellation) =>
        _held.TryDequeue(out var held) ? Task.FromResult(held) : ReadInboxAsync(cancellation);

    private async Task<ReplyInbox.Reply> ReadInboxAsync(CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            return await _inbox.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"no stage answered for {RequestTimeout.TotalHours:F0} h");
        }
    }

    /// <summary>
    /// Awaits a data-plane step while still reacting to stage failures and lost nodes from the inbox; other replies
    /// read meanwhile (the stage's own answer often arrives before its last packet) are kept for the next read.
    /// </summary>
    private async Task<T> WithFailuresAsync<T>(Task<T> step, int stage, string doing, CancellationToken cancellation)
    {
        while (true)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var watching = ReadInboxAsync(stop.Token);
            if (await Task.WhenAny(step, watching) == step)
            {
                await stop.CancelAsync();
                try { _held.Enqueue(await watching); } catch (OperationCanceledException) { }
                try { return await step; }
                catch (DataPlaneException e) { await BrokenLinkAsync(stage, -1, doing, e.Message, cancellation); throw; }
            }
            var reply = await watching;
            if (reply.Message is StageFailure or NodeLost) await UnexpectedAsync(reply, doing, cancellation);
            else _held.Enqueue(reply);
        }
    }

    /// <summary>
    /// A failure or a loss ends the step; anything else (a late reply of an earlier step, a failure of an abandoned
    /// pass) is logged and dropped.
    /// </summary>
    private async Task UnexpectedAsync(ReplyInbox.Reply reply, string doing, CancellationToken cancellation, long? passId = null)
    {
        var i = _refs.IndexOf(reply.Sender);
        switch (reply.Message)
        {
            case StageFailure f when f.PassId != 0 && f.PassId != passId:
                Log.Debug("Pipeline: ignored a failure of abandoned pass {Pass} from {Stage}: {Message}", f.PassId, i >= 0 ? StageName(i) : reply.Sender.Path, f.Message);
                break;
            case StageFailure { Operation: "link" } f when i >= 0:
                await BrokenLinkAsync(i, f.Link == "upstream" ? i - 1 : i + 1, doing, f.Message, cancellation);
                break;
            case StageFailure f:
                var name = i >= 0 ? StageName(i) : reply.Sender.Path.ToString();
                var what = f.MicroBatch >= 0 ? $"{f.Operation} of micro-batch {f.MicroBatch}" : f.Operation;
                throw new StageFailedException(name, what, $"node {(i >= 0 ? _stages[i].Name : "?")}: {f.Message}", inputError: f.InputError);
            case NodeLost lost when !lost.Node.Address.Equals(_addresses[lost.Stage]):
                Log.Debug("Pipeline: {Node} was lost, but stage {Stage} lives elsewhere by now", lost.Node, lost.Stage);
                break;
            case NodeLost lost:
                throw Lost(lost, doing);
            default:
                Log.Debug("Pipeline: dropped a late {Type} from {Sender} during {Doing}", reply.Message.GetType().Name, reply.Sender.Path, doing);
                break;
        }
    }

    /// <summary>
    /// A broken data link is usually the sign of a neighbour that died: the membership verdict is awaited for a
    /// moment, so the error (or the recovery) is about the node that was lost rather than the one that noticed.
    /// </summary>
    private async Task BrokenLinkAsync(int stage, int neighbour, string doing, string message, CancellationToken cancellation)
    {
        using var verdict = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        verdict.CancelAfter(_lossVerdictWait);
        var kept = new List<ReplyInbox.Reply>();
        try
        {
            while (true)
            {
                var reply = await ReadInboxAsync(verdict.Token);
                if (reply.Message is NodeLost lost && lost.Node.Address.Equals(_addresses[lost.Stage]))
                {
                    foreach (var k in kept) _held.Enqueue(k);
                    throw Lost(lost, doing);
                }
                kept.Add(reply);
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested) { }
        var other = neighbour >= 0 && neighbour < _stages.Length ? $"stage {StageName(neighbour)} on node {_stages[neighbour].Name}" : "the coordinator";
        throw new StageFailedException(StageName(stage), doing, $"the data link to {other} broke ({message})");
    }

    /// <summary>Without recovery a loss is the job's end; with it, a signal to re-create the stage.</summary>
    private Exception Lost(NodeLost lost, string doing) => Recovery is null
        ? new StageFailedException(StageName(lost.Stage), doing, $"node {lost.Node} was lost: {lost.Reason}")
        : new StageLostException(lost.Stage, lost.Node, lost.Kind, lost.Reason, doing);
}
