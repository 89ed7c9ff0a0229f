using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using Google.Protobuf;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Placement;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>What the pipeline needs to re-create a lost stage: where nodes are, where stages live, what each costs.</summary>
public sealed record PipelineRecovery(StageHomes Homes, StagePlacement Placement, IReadOnlyList<string> EntityIds, IReadOnlyList<long> StageBytes);

/// <summary>
/// Surviving node loss. A stage's state is its LoadShard plus the requests after it, so when its node is lost the
/// stage is re-created on another node with room (placed there through the shard allocation), loads its layers from
/// the checkpoint path again, and the lost work is redone: a pass is run again from its first micro-batch on every
/// stage (the other stages keep their weights; the same micro-batches in the same order give the same bytes);
/// scoring first redoes the gradient pass it needs; a compaction stream starts that stage again and skips what
/// already arrived. At most <see cref="RecoveryOptions.MaxRecoveries"/> times, then the error says what was tried.
/// </summary>
public sealed partial class ClusterPipeline
{
    public PipelineRecovery? Recovery { get; init; }

    /// <summary>Where this pipeline's stages are and what each is planned to use.</summary>
    public IEnumerable<(Address Node, long Bytes)> Placements =>
        Enumerable.Range(0, _stages.Length).Where(i => _addresses[i] is not null)
            .Select(i => (_addresses[i]!, Recovery?.StageBytes[i] ?? 0));

    private int _recoveries;

    /// <summary>Runs <paramref name="step"/>; after a recovery, <paramref name="restore"/> rebuilds what the step needs, then the step runs again.</summary>
    private async Task<T> WithRecoveryAsync<T>(string what, Func<Task<T>> step, Func<CancellationToken, Task>? restore, CancellationToken cancellation)
    {
        var restoring = false;
        while (true)
        {
            try
            {
                if (restoring && restore is not null) await restore(cancellation);
                restoring = false;
                return await step();
            }
            catch (StageLostException lost)
            {
                await RecoverAsync(lost, what, cancellation);
                restoring = true;
            }
        }
    }

    private async Task RecoverAsync(StageLostException lost, string what, CancellationToken cancellation)
    {
        var recovery = Recovery!;
        var stage = lost.Stage;
        var lostName = StageName(stage);
        var clock = Stopwatch.StartNew();
        if (++_recoveries > recovery.Homes.Options.MaxRecoveries)
            throw new StageFailedException(lostName, lost.Doing,
                $"node {lost.Node} was lost ({lost.Reason}); not recovered: that was loss {_recoveries}, and --max-recoveries is {recovery.Homes.Options.MaxRecoveries}");
        Log.Warning("Node {Node} lost during {Doing} ({Reason}); recovering stage {Stage} (recovery {Count} of at most {Max})",
            lost.Node.Name, lost.Doing, lost.Reason, lostName, _recoveries, recovery.Homes.Options.MaxRecoveries);
        if (lost.Kind == LossKind.Unreachable && !await AwaitRemovalAsync(lost, cancellation))
        {
            // A pause (GC, a starved CPU, SIGSTOP) and not a death: the stage and its weights are still there, and the
            // interrupted work is redone with it where it is.
            Log.Warning("Node {Node} answered again {Seconds:F1} s after it was reported unreachable; stage {Stage} stays there; redoing {What}",
                lost.Node.Name, clock.Elapsed.TotalSeconds, lostName, what);
            return;
        }

        NodeInfo home;
        try
        {
            _addresses[stage] = null; // its bytes on the lost node no longer count
            home = await recovery.Homes.FindAsync(lostName, recovery.StageBytes[stage], lost.Node.Address, cancellation);
        }
        catch (NoHomeException e)
        {
            throw new StageFailedException(lostName, lost.Doing, $"node {lost.Node} was lost ({lost.Reason}) and the stage could not be re-created: {e.Message}");
        }
        recovery.Placement.Place(recovery.EntityIds[stage], home.Address);
        _addresses[stage] = home.Address;
        _stages[stage] = _stages[stage] with { Name = home.Name };
        _dataEndpoints[stage] = null!;
        await ReloadAsync(stage, recovery.Homes.Options.RejoinTimeout, cancellation);
        Log.Warning("Stage {Stage} re-created on node {Node} {Seconds:F1} s after the loss was reported; redoing {What}",
            StageName(stage), home.Name, clock.Elapsed.TotalSeconds, what);
    }

    /// <summary>
    /// A silent node still owns its shard until the split-brain resolver has downed and removed it: true once it
    /// is removed, false when it answers again first (the resolver downs only what stays unreachable).
    /// </summary>
    private async Task<bool> AwaitRemovalAsync(StageLostException lost, CancellationToken cancellation)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        wait.CancelAfter(Recovery!.Homes.Options.RemovalWithin);
        var kept = new List<ReplyInbox.Reply>();
        var removed = true;
        try
        {
            // The node may have answered before this wait began; its NodeBack is then already read and dropped.
            if (_directory!.IsReachable(lost.Node.Address)) removed = false;
            while (removed)
            {
                var reply = await ReadInboxAsync(wait.Token);
                if (reply.Message is NodeLost { Kind: LossKind.Removed } gone && gone.Node.Address.Equals(lost.Node.Address)) break;
                if (reply.Message is NodeBack back && back.Node.Address.Equals(lost.Node.Address)) removed = false;
                else if (reply.Message is NodeLost) kept.Add(reply); // another node's loss: handled after this one
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new StageFailedException(StageName(lost.Stage), lost.Doing,
                $"node {lost.Node} fell silent and was not removed from the cluster within {Recovery.Homes.Options.RemovalWithin.TotalSeconds:F0} s");
        }
        foreach (var k in kept) _held.Enqueue(k);
        return removed;
    }

    /// <summary>
    /// LoadShard to the re-created stage, repeated until it answers: right after a node's removal the shard may not
    /// have been handed back yet, and a message sent to the old region meanwhile is lost. LoadShard is idempotent.
    /// </summary>
    private async Task ReloadAsync(int stage, TimeSpan limit, CancellationToken cancellation)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            _refs.Tell(stage, LoadRequest(stage), _inbox.Ref);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            wait.CancelAfter(TimeSpan.FromSeconds(3));
            try
            {
                while (true)
                {
                    var reply = await ReadInboxAsync(wait.Token);
                    if (reply.Message is ShardLoaded loaded && _refs.IndexOf(reply.Sender) == stage)
                    {
                        Loaded(stage, loaded);
                        return;
                    }
                    if (reply.Message is StageFailure { Operation: "load" } && _refs.IndexOf(reply.Sender) == stage
                        || reply.Message is NodeLost)
                        await UnexpectedAsync(reply, "re-creating a lost stage", cancellation);
                }
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                // Not answered yet: ask again, for as long as a node may take to come up.
                if (deadline.Elapsed > limit)
                    throw new StageFailedException(StageName(stage), "re-creating a lost stage",
                        $"node {_stages[stage].Name} did not load the stage within {limit.TotalSeconds:F0} s (--rejoin-timeout)");
            }
        }
    }

    /// <summary>One stage's compacted tensors streamed back; a loss midway is kept in <see cref="Lost"/> for the caller to recover from.</summary>
    private sealed class CompactionStream(ClusterPipeline pipeline, int stage, PruningPlan plan, int skip) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _expecting = new();
        private IDataLink? _link;
        private int _seen;
        private bool _done;

        public StageLostException? Lost { get; private set; }

        public async Task<ShardTensor?> NextAsync(CancellationToken cancellation)
        {
            if (_done) return null;
            try
            {
                _link ??= await OpenAsync(cancellation);
                while (true)
                {
                    var packet = await pipeline.WithFailuresAsync(_link.ReceiveAsync(cancellation).AsTask(), stage, "compaction", cancellation);
                    if (packet is null)
                    {
                        await pipeline.ReadStageReplyAsync<Compacted>(stage, "compaction", cancellation);
                        _done = true;
                        return null;
                    }
                    foreach (var t in packet.Tensors)
                        if (_seen++ >= skip) return new ShardTensor(t.Name, t.Shape, WeightTensors.FromData(t));
                }
            }
            catch (StageLostException e)
            {
                Lost = e;
                _done = true;
                return null;
            }
        }

        private async Task<IDataLink> OpenAsync(CancellationToken cancellation)
        {
            var token = RandomNumberGenerator.GetBytes(32);
            var accepted = pipeline._dataPlane.Expect(token, $"compacted weights of {pipeline.StageName(stage)}", _expecting.Token);
            var request = pipeline.CompactRequest(stage, plan);
            request.StreamBack = new StreamBack { Endpoint = pipeline._dataPlane.Endpoint, Token = ByteString.CopyFrom(token) };
            pipeline._refs.Tell(stage, request, pipeline._inbox.Ref);
            return await pipeline.WithFailuresAsync(accepted, stage, "compaction", cancellation);
        }

        public async ValueTask DisposeAsync()
        {
            await _expecting.CancelAsync(); // a token nobody used is disarmed
            _expecting.Dispose();
            if (_link is not null) await _link.DisposeAsync();
        }
    }
}
