using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Akka.Actor;
using Google.Protobuf;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Protocol;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// The pipeline of stage actors, in-process or on nodes. Control goes through Akka messages; tensors go stage to
/// stage over the data plane, each link opened with a single-use token issued here. The coordinator only starts
/// micro-batches (at most <c>maxInFlight</c> at a time) and counts them done. A stage failure or a lost node ends
/// the step with a <see cref="StageFailedException"/> naming the stage, the node and what it was doing.
/// </summary>
public sealed class ClusterPipeline : IPipeline
{
    private static readonly ILogger Log = Serilog.Log.ForContext<ClusterPipeline>();
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromHours(6);

    private readonly ActorSystem _system;
    private readonly StageRefs _refs;
    private readonly IDataPlane _dataPlane;
    private readonly string[] _nodes;
    private readonly Address?[] _addresses;
    private readonly string[] _dataEndpoints;
    private readonly NodeDirectory? _directory;
    private readonly ReplyInbox _inbox;
    private readonly TimeSpan _lossVerdictWait;
    private readonly Queue<ReplyInbox.Reply> _held = new();
    private long _nextPass;

    public IReadOnlyList<StageInfo> Stages { get; }

    /// <summary>Each stage's peak resident bytes as its node last reported it (after a pass).</summary>
    public long[] PeakBytes { get; }

    public ClusterPipeline(ActorSystem system, StageRefs refs, IReadOnlyList<StageInfo> stages, IReadOnlyList<Address?> addresses,
        IDataPlane dataPlane, NodeDirectory? directory, TimeSpan lossVerdictWait = default)
    {
        _lossVerdictWait = lossVerdictWait;
        _system = system;
        _refs = refs;
        _dataPlane = dataPlane;
        _directory = directory;
        Stages = stages;
        _nodes = stages.Select(s => s.Name).ToArray();
        _addresses = [.. addresses];
        _dataEndpoints = new string[stages.Count];
        PeakBytes = new long[stages.Count];
        _inbox = new ReplyInbox(system, "pipeline");
        if (directory is not null) directory.Lost += OnNodeLost;
    }

    private sealed record NodeLost(int Stage, NodeInfo Node, LossKind Kind, string Reason);

    private void OnNodeLost(NodeInfo node, LossKind kind, string reason)
    {
        for (var i = 0; i < _addresses.Length; i++)
            if (node.Address.Equals(_addresses[i])) _inbox.Post(new NodeLost(i, node, kind, reason));
    }

    private string StageName(int i) => $"{_nodes[i]} [{Stages[i].Descriptor.FirstLayer}, {Stages[i].Descriptor.EndLayer})";

    // --- Load ------------------------------------------------------------------------------------------------------

    public async Task LoadAsync(string jobId, string modelPath, CancellationToken cancellation)
    {
        for (var i = 0; i < Stages.Count; i++)
            _refs.Tell(i, ProtocolMapping.ToLoadShard(jobId, _nodes[i], modelPath, Stages[i].Descriptor), _inbox.Ref);
        var loaded = await GatherAsync<ShardLoaded>("load", _ => "load", cancellation);
        for (var i = 0; i < loaded.Length; i++)
        {
            _dataEndpoints[i] = loaded[i].DataEndpoint;
            Log.Information("Stage {Stage}: {Parameters:N0} parameters loaded on {Node} in {Seconds:F1} s", StageName(i), loaded[i].Parameters, loaded[i].Node, loaded[i].Seconds);
        }
    }

    // --- Pass ------------------------------------------------------------------------------------------------------

    public async Task<PassResult> RunPassAsync(IReadOnlyList<int[]> sequences, int microBatchSize, ObjectiveKind objective, int maxInFlight,
        IProgress<PassProgress>? progress, CancellationToken cancellation)
    {
        if (sequences.Count == 0) throw new ArgumentException("no sequences");
        var positions = sequences[0].Length;
        if (sequences.Any(s => s.Length != positions)) throw new ArgumentException("all sequences of a pass must have the same length");
        if (microBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(microBatchSize), "micro-batch size must be positive");
        if (maxInFlight <= 0) throw new ArgumentOutOfRangeException(nameof(maxInFlight), "at least one micro-batch must be in flight");
        var passId = Interlocked.Increment(ref _nextPass);
        var count = (sequences.Count + microBatchSize - 1) / microBatchSize;
        var gradient = objective.HasGradient();
        var clock = Stopwatch.StartNew();

        var tokens = Enumerable.Range(0, Stages.Count - 1).Select(_ => ByteString.CopyFrom(RandomNumberGenerator.GetBytes(32))).ToArray();
        for (var i = 0; i < Stages.Count; i++)
        {
            var begin = new BeginPass { PassId = passId, Objective = ProtocolMapping.ToProto(objective), TotalSequences = sequences.Count, MicroBatches = count };
            if (i > 0) begin.Upstream = new Link { Token = tokens[i - 1] };
            if (i < Stages.Count - 1) begin.Downstream = new Link { Endpoint = _dataEndpoints[i + 1], Token = tokens[i] };
            _refs.Tell(i, begin, _inbox.Ref);
        }
        await GatherAsync<PassBegun>("pass", _ => "start of pass", cancellation);
        for (var i = 0; i < Stages.Count; i++) _refs.Tell(i, new OpenLinks { PassId = passId }, _inbox.Ref);
        await GatherAsync<LinksOpen>("pass", _ => "opening data links", cancellation);

        var objectives = new double[count];
        var nll = new double[sequences.Count];
        var headDone = new bool[count];
        var backwardDone = new bool[count];
        int next = 0, done = 0;
        long tokensDone = 0;
        bool Complete(int mb) => headDone[mb] && (!gradient || backwardDone[mb]);
        void Start(int mb)
        {
            var first = mb * microBatchSize;
            var batch = Math.Min(microBatchSize, sequences.Count - first);
            var run = new RunMicroBatch { PassId = passId, MicroBatch = mb, Batch = batch, Positions = positions };
            for (var b = 0; b < batch; b++) run.Tokens.AddRange(sequences[first + b]);
            _refs.Tell(0, run, _inbox.Ref);
        }
        string Doing()
        {
            for (var mb = 0; mb < next; mb++)
                if (!Complete(mb)) return headDone[mb] ? $"backward of micro-batch {mb}" : $"forward of micro-batch {mb}";
            return "the pass";
        }

        while (next < Math.Min(count, maxInFlight)) Start(next++);
        while (done < count)
        {
            var reply = await ReadAsync(cancellation);
            switch (reply.Message)
            {
                case HeadResult h when h.PassId == passId:
                    objectives[h.MicroBatch] = h.Objective;
                    for (var b = 0; b < h.SequenceNll.Count; b++) nll[h.MicroBatch * microBatchSize + b] = h.SequenceNll[b];
                    headDone[h.MicroBatch] = true;
                    break;
                case BackwardDone b when b.PassId == passId:
                    backwardDone[b.MicroBatch] = true;
                    break;
                default:
                    await UnexpectedAsync(reply, Doing(), cancellation);
                    continue;
            }
            var mbDone = reply.Message is HeadResult hr ? hr.MicroBatch : ((BackwardDone)reply.Message).MicroBatch;
            if (!Complete(mbDone)) continue;
            done++;
            tokensDone += (long)Math.Min(microBatchSize, sequences.Count - mbDone * microBatchSize) * positions;
            progress?.Report(new PassProgress(done, count, tokensDone, clock.Elapsed));
            if (next < count) Start(next++);
        }

        for (var i = 0; i < Stages.Count; i++) _refs.Tell(i, new EndPass { PassId = passId }, _inbox.Ref);
        var ended = await GatherAsync<PassEnded>("pass", _ => "end of pass", cancellation);
        var wall = clock.Elapsed.TotalSeconds;
        for (var i = 0; i < ended.Length; i++) PeakBytes[i] = ended[i].PeakBytes;
        var idle = wall > 0 ? Math.Clamp(1 - ended.Average(e => e.BusySeconds) / wall, 0, 1) : 0;
        return new PassResult(objectives.Sum(), nll, idle);
    }

    // --- Scores and compaction ---------------------------------------------------------------------------------------

    public async Task<IReadOnlyList<LayerScores>> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation)
    {
        for (var i = 0; i < Stages.Count; i++)
            _refs.Tell(i, new ComputeScores { Method = ProtocolMapping.ToProto(method), Seed = seed }, _inbox.Ref);
        var scores = await GatherAsync<Scores>("scoring", _ => "scoring", cancellation);
        return scores.SelectMany(ProtocolMapping.FromProto).OrderBy(s => s.Layer).ToArray();
    }

    public async IAsyncEnumerable<ShardTensor> CompactAsync(PruningPlan plan, [EnumeratorCancellation] CancellationToken cancellation)
    {
        // One stage at a time, so the coordinator never holds more than the tensor being written.
        for (var i = 0; i < Stages.Count; i++)
        {
            var token = RandomNumberGenerator.GetBytes(32);
            using var expectCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var accepted = _dataPlane.Expect(token, $"compacted weights of {StageName(i)}", expectCancel.Token);
            var request = CompactRequest(i, plan);
            request.StreamBack = new StreamBack { Endpoint = _dataPlane.Endpoint, Token = ByteString.CopyFrom(token) };
            _refs.Tell(i, request, _inbox.Ref);
            var link = await WithFailuresAsync(accepted, i, "compaction", cancellation);
            await using (link)
            {
                while (await WithFailuresAsync(link.ReceiveAsync(cancellation).AsTask(), i, "compaction", cancellation) is { } packet)
                    foreach (var t in packet.Tensors)
                        yield return new ShardTensor(t.Name, t.Shape, t.AsFloats());
            }
            var compacted = await ReadStageReplyAsync<Compacted>(i, "compaction", cancellation);
            Log.Debug("Stage {Stage}: {Count} compacted tensors, {Bytes:N0} bytes", StageName(i), compacted.Tensors.Count, compacted.Bytes);
        }
    }

    public async Task<IReadOnlyDictionary<string, string>> CompactIntoAsync(PruningPlan plan, string folder, Engine.Checkpoints.DType dtype, CancellationToken cancellation)
    {
        var files = Enumerable.Range(0, Stages.Count).Select(i => ShardFiles.Name(i, Stages.Count)).ToArray();
        for (var i = 0; i < Stages.Count; i++)
        {
            var request = CompactRequest(i, plan);
            request.WriteFile = new WriteFile { Path = Path.Combine(folder, files[i]), Dtype = ProtocolMapping.ToProto(dtype) };
            _refs.Tell(i, request, _inbox.Ref);
        }
        var written = await GatherAsync<Compacted>("compaction", _ => "compaction", cancellation);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < written.Length; i++)
            foreach (var name in written[i].Tensors) map[name] = files[i];
        return map;
    }

    private Compact CompactRequest(int stage, PruningPlan plan)
    {
        var request = new Compact();
        request.Layers.AddRange(PruneJob.PartFor(Stages[stage].Descriptor, plan).Select(ProtocolMapping.ToProto));
        return request;
    }

    // --- Replies -----------------------------------------------------------------------------------------------------

    /// <summary>Waits for one reply of type <typeparamref name="T"/> from every stage; a failure or a loss ends the wait.</summary>
    private async Task<T[]> GatherAsync<T>(string operation, Func<int, string> doing, CancellationToken cancellation) where T : class
    {
        var replies = new T?[Stages.Count];
        var missing = Stages.Count;
        while (missing > 0)
        {
            var reply = await ReadAsync(cancellation);
            var i = _refs.IndexOf(reply.Sender);
            if (reply.Message is T t && i >= 0 && replies[i] is null)
            {
                replies[i] = t;
                missing--;
            }
            else await UnexpectedAsync(reply, doing(i), cancellation);
        }
        return replies!;
    }

    private async Task<T> ReadStageReplyAsync<T>(int stage, string operation, CancellationToken cancellation) where T : class
    {
        while (true)
        {
            var reply = await ReadAsync(cancellation);
            if (reply.Message is T t && _refs.IndexOf(reply.Sender) == stage) return t;
            await UnexpectedAsync(reply, operation, cancellation);
        }
    }

    private Task<ReplyInbox.Reply> ReadAsync(CancellationToken cancellation) =>
        _held.TryDequeue(out var held) ? Task.FromResult(held) : ReadInboxAsync(cancellation);

    private async Task<ReplyInbox.Reply> ReadInboxAsync(CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(RequestTimeout);
        return await _inbox.ReadAsync(timeout.Token);
    }

    /// <summary>
    /// Awaits a data-plane step while still reacting to stage failures and lost nodes from the inbox; other replies
    /// read meanwhile (the stage's own answer often arrives before its last packet) are kept for the next read.
    /// </summary>
    private async Task<T> WithFailuresAsync<T>(Task<T> step, int stage, string operation, CancellationToken cancellation)
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
                catch (DataPlaneException e) { throw new StageFailedException(StageName(stage), operation, e.Message, e); }
            }
            var reply = await watching;
            if (reply.Message is StageFailure or NodeLost) await UnexpectedAsync(reply, operation, cancellation);
            _held.Enqueue(reply);
        }
    }

    /// <summary>
    /// A failure or a loss ends the step; anything else (a late reply of an earlier step) is logged and dropped. A
    /// broken data link is usually the sign of a neighbour that died: the membership verdict on it is awaited for
    /// a moment, so the error names the node that was lost rather than the one that noticed.
    /// </summary>
    private async Task UnexpectedAsync(ReplyInbox.Reply reply, string doing, CancellationToken cancellation)
    {
        switch (reply.Message)
        {
            case StageFailure { Operation: "link" } f when _refs.IndexOf(reply.Sender) is var i && i >= 0:
                var neighbour = f.Link == "upstream" ? i - 1 : i + 1;
                using (var verdict = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
                {
                    verdict.CancelAfter(_lossVerdictWait);
                    try
                    {
                        while (true)
                            if ((await ReadInboxAsync(verdict.Token)).Message is NodeLost lost)
                                throw new StageFailedException(StageName(lost.Stage), doing, $"node {lost.Node} was lost: {lost.Reason}");
                    }
                    catch (OperationCanceledException) when (!cancellation.IsCancellationRequested) { }
                }
                var other = neighbour >= 0 && neighbour < Stages.Count ? $"stage {StageName(neighbour)} on node {_nodes[neighbour]}" : "its neighbour";
                throw new StageFailedException(StageName(i), doing, $"the data link to {other} broke ({f.Message})");
            case StageFailure f:
                var s = _refs.IndexOf(reply.Sender);
                var name = s >= 0 ? StageName(s) : reply.Sender.Path.ToString();
                var what = f.MicroBatch >= 0 ? $"{f.Operation} of micro-batch {f.MicroBatch}" : f.Operation;
                throw new StageFailedException(name, what, $"node {(s >= 0 ? _nodes[s] : "?")}: {f.Message}", inputError: f.InputError);
            case NodeLost lost:
                throw new StageFailedException(StageName(lost.Stage), doing, $"node {lost.Node} was lost: {lost.Reason}");
            default:
                Log.Debug("Pipeline: dropped a late {Type} from {Sender} during {Doing}", reply.Message.GetType().Name, reply.Sender.Path, doing);
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_directory is not null) _directory.Lost -= OnNodeLost;
        await _inbox.DisposeAsync();
    }
}
