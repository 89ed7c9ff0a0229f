using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Akka.Actor;
using Google.Protobuf;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Protocol;
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
/// micro-batches (at most <c>maxInFlight</c> at a time) and counts them done. A stage failure ends the step with a
/// <see cref="StageFailedException"/> naming the stage, the node and what it was doing; a lost node does too,
/// unless recovery is on (<see cref="ClusterPipeline.Recovery"/>), which re-creates its stage elsewhere and redoes
/// the lost work.
/// </summary>
public sealed partial class ClusterPipeline : IPipeline
{
    private static readonly ILogger Log = Serilog.Log.ForContext<ClusterPipeline>();
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromHours(6);

    private readonly StageRefs _refs;
    private readonly IDataPlane _dataPlane;
    private readonly StageInfo[] _stages;
    private readonly Address?[] _addresses;
    private readonly string[] _dataEndpoints;
    private readonly NodeDirectory? _directory;
    private readonly ReplyInbox _inbox;
    private readonly TimeSpan _lossVerdictWait;
    private readonly Queue<ReplyInbox.Reply> _held = new();
    private long _nextPass;

    public IReadOnlyList<StageInfo> Stages => _stages;

    /// <summary>Each stage's peak resident bytes as its node last reported it (after a pass).</summary>
    public long[] PeakBytes { get; }

    public ClusterPipeline(ActorSystem system, StageRefs refs, IReadOnlyList<StageInfo> stages, IReadOnlyList<Address?> addresses,
        IDataPlane dataPlane, NodeDirectory? directory, TimeSpan lossVerdictWait = default)
    {
        _lossVerdictWait = lossVerdictWait;
        _refs = refs;
        _dataPlane = dataPlane;
        _directory = directory;
        _stages = [.. stages];
        _addresses = [.. addresses];
        _dataEndpoints = new string[stages.Count];
        PeakBytes = new long[stages.Count];
        _inbox = new ReplyInbox(system, "pipeline");
        if (directory is not null)
        {
            directory.Lost += OnNodeLost;
            directory.Back += OnNodeBack;
        }
    }

    private sealed record NodeLost(int Stage, NodeInfo Node, LossKind Kind, string Reason);

    /// <summary>A node reported unreachable answers again (a long pause, not a death).</summary>
    private sealed record NodeBack(NodeInfo Node);

    private void OnNodeLost(NodeInfo node, LossKind kind, string reason)
    {
        for (var i = 0; i < _addresses.Length; i++)
            if (node.Address.Equals(_addresses[i])) _inbox.Post(new NodeLost(i, node, kind, reason));
    }

    private void OnNodeBack(NodeInfo node)
    {
        if (_addresses.Any(a => node.Address.Equals(a))) _inbox.Post(new NodeBack(node));
    }

    private string StageName(int i) => $"{_stages[i].Name} [{_stages[i].Descriptor.FirstLayer}, {_stages[i].Descriptor.EndLayer})";

    // --- Load ------------------------------------------------------------------------------------------------------

    private LoadShard? _load;

    public async Task LoadAsync(string jobId, string modelPath, CancellationToken cancellation)
    {
        _load = new LoadShard { JobId = jobId, ModelPath = modelPath };
        await WithRecoveryAsync("loading", async () =>
        {
            var pending = Enumerable.Range(0, _stages.Length).Where(i => _dataEndpoints[i] is null).ToArray();
            foreach (var i in pending) _refs.Tell(i, LoadRequest(i), _inbox.Ref);
            var loaded = await GatherAsync<ShardLoaded>(pending, _ => "loading", cancellation);
            foreach (var i in pending) Loaded(i, loaded[i]!);
            return true;
        }, restore: null, cancellation);
    }

    /// <summary>Each stage's schedule of gradient passes (all-layers unless given).</summary>
    public IReadOnlyList<StageSchedule>? Schedules { get; init; }

    /// <summary>Micro-batches kept in flight, for the stages' planned bytes.</summary>
    public int InFlight { get; init; } = 4;

    private LoadShard LoadRequest(int stage)
    {
        var load = ProtocolMapping.ToLoadShard(_load!.JobId, _stages[stage].Name, _load.ModelPath, _stages[stage].Descriptor);
        load.Schedule = (Schedules?[stage] ?? StageSchedule.AllLayers).Name();
        load.InFlight = InFlight;
        return load;
    }

    /// <summary>Each stage's memory: the schedule it ran, planned bytes, peak resident and managed bytes.</summary>
    public async Task<IReadOnlyList<StageMemory>> MemoryAsync(CancellationToken cancellation)
    {
        var all = Enumerable.Range(0, _stages.Length).ToArray();
        foreach (var i in all) _refs.Tell(i, new QueryMemory(), _inbox.Ref);
        var reports = await GatherAsync<MemoryReport>(all, _ => "the memory report", cancellation);
        return reports.Select(r => new StageMemory(r!.Schedule, r.PlannedBytes, r.PeakResidentBytes, r.PeakManagedBytes)).ToArray();
    }

    private void Loaded(int stage, ShardLoaded loaded)
    {
        _dataEndpoints[stage] = loaded.DataEndpoint;
        Log.Information("Stage {Stage}: {Parameters:N0} parameters loaded on {Node} in {Seconds:F1} s", StageName(stage), loaded.Parameters, loaded.Node, loaded.Seconds);
    }

    // --- Pass ------------------------------------------------------------------------------------------------------

    /// <summary>A pass as asked for: <paramref name="Variants"/> > 1 runs each micro-batch as the dense variant 0 and then every masked variant.</summary>
    private sealed record PassRequest(IReadOnlyList<int[]> Sequences, int MicroBatchSize, ObjectiveKind Objective, int MaxInFlight,
        IProgress<PassProgress>? Progress, int Variants = 1);

    /// <summary>What the head reported, per variant and sequence, and how idle the stages were.</summary>
    private sealed record PassOutcome(double Objective, double[][] Nll, double[][] Kl, double IdleFraction);

    /// <summary>The last gradient pass: a re-created stage needs it again before it can score.</summary>
    private PassRequest? _lastGradientPass;

    public async Task<PassResult> RunPassAsync(IReadOnlyList<int[]> sequences, int microBatchSize, ObjectiveKind objective, int maxInFlight,
        IProgress<PassProgress>? progress, CancellationToken cancellation)
    {
        var request = Validated(new PassRequest(sequences, microBatchSize, objective, maxInFlight, progress));
        var outcome = await WithRecoveryAsync("the pass", () => RunPassOnceAsync(request, cancellation), restore: null, cancellation);
        if (objective.HasGradient()) _lastGradientPass = request;
        return new PassResult(outcome.Objective, outcome.Nll[0], outcome.IdleFraction);
    }

    public Task<MaskedEvaluationResult> EvaluateMaskedAsync(IReadOnlyList<int[]> heldOut, IReadOnlyList<IReadOnlyList<LayerPlan>> candidates,
        int microBatchSize, int maxInFlight, IProgress<PassProgress>? progress, CancellationToken cancellation)
    {
        if (heldOut.Count == 0) throw new ArgumentException("the held-out set is empty");
        if (heldOut[0].Length < 2) throw new ArgumentException("held-out sequences need at least two tokens");
        var request = Validated(new PassRequest(heldOut, microBatchSize, ObjectiveKind.KlToDense, maxInFlight, progress, candidates.Count + 1));
        return WithRecoveryAsync("the masked evaluation", async () =>
        {
            // The masks are part of what a stage holds for this step: sent again after a recovery, with the step.
            await LoadMasksAsync(candidates, cancellation);
            var outcome = await RunPassOnceAsync(request, cancellation);
            await LoadMasksAsync([], cancellation);
            return MaskedEvaluation.Summarize(outcome.Nll, outcome.Kl, heldOut.Count, heldOut[0].Length);
        }, restore: null, cancellation);
    }

    private async Task LoadMasksAsync(IReadOnlyList<IReadOnlyList<LayerPlan>> candidates, CancellationToken cancellation)
    {
        var all = Enumerable.Range(0, _stages.Length).ToArray();
        foreach (var i in all)
        {
            var d = _stages[i].Descriptor;
            var load = new LoadMasks();
            foreach (var candidate in candidates)
            {
                var variant = new MaskVariant();
                variant.Layers.AddRange(candidate.Where(l => l.Layer >= d.FirstLayer && l.Layer < d.EndLayer).Select(ProtocolMapping.ToProto));
                load.Variants.Add(variant);
            }
            _refs.Tell(i, load, _inbox.Ref);
        }
        await GatherAsync<MasksLoaded>(all, _ => "loading masks", cancellation);
    }

    private static PassRequest Validated(PassRequest r)
    {
        if (r.Sequences.Count == 0) throw new ArgumentException("no sequences");
        if (r.Sequences.Any(s => s.Length != r.Sequences[0].Length)) throw new ArgumentException("all sequences of a pass must have the same length");
        if (r.MicroBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(r), "micro-batch size must be positive");
        if (r.MaxInFlight <= 0) throw new ArgumentOutOfRangeException(nameof(r), "at least one micro-batch must be in flight");
        return r;
    }

    /// <summary>
    /// One pass: steps (micro-batch, variant) go to stage 0 in order, at most <c>MaxInFlight</c> at a time, so that every
    /// stage sees them in that order; a step is done when the head has reported it (and, for a gradient pass, stage 0
    /// has finished its backward).
    /// </summary>
    private async Task<PassOutcome> RunPassOnceAsync(PassRequest request, CancellationToken cancellation)
    {
        var (sequences, microBatchSize, objective, maxInFlight, progress, variants) = request;
        var positions = sequences[0].Length;
        var passId = Interlocked.Increment(ref _nextPass);
        var microBatches = (sequences.Count + microBatchSize - 1) / microBatchSize;
        var count = microBatches * variants;
        var gradient = objective.HasGradient();
        var clock = Stopwatch.StartNew();

        var all = await StartSessionAsync<PassBegun>(passId, (upstream, downstream) => new BeginPass
        {
            PassId = passId, Objective = ProtocolMapping.ToProto(objective), TotalSequences = sequences.Count, MicroBatches = count,
            Upstream = upstream, Downstream = downstream,
        }, "the start of a pass", cancellation);

        var objectives = new double[count];
        var nll = Enumerable.Range(0, variants).Select(_ => new double[sequences.Count]).ToArray();
        var kl = Enumerable.Range(0, variants).Select(_ => new double[sequences.Count]).ToArray();
        var headDone = new bool[count];
        var backwardDone = new bool[count];
        int next = 0, done = 0;
        long tokensDone = 0;
        bool Complete(int step) => headDone[step] && (!gradient || backwardDone[step]);
        int Batch(int mb) => Math.Min(microBatchSize, sequences.Count - mb * microBatchSize);
        void Start(int step)
        {
            int mb = step / variants, variant = step % variants, first = mb * microBatchSize;
            var run = new RunMicroBatch { PassId = passId, MicroBatch = mb, Variant = variant, Batch = Batch(mb), Positions = positions };
            for (var b = 0; b < run.Batch; b++) run.Tokens.AddRange(sequences[first + b]);
            _refs.Tell(0, run, _inbox.Ref);
        }
        // The earliest unfinished step, and how many were in flight: a stage may have been further on than that one.
        string Doing()
        {
            for (var step = 0; step < next; step++)
                if (!Complete(step))
                {
                    var inFlight = Enumerable.Range(step, next - step).Count(s => !Complete(s));
                    return (headDone[step] ? "backward" : "forward") + $" of micro-batch {step / variants}" + (variants > 1 ? $" (variant {step % variants})" : "")
                           + (inFlight > 1 ? $", {inFlight} steps in flight" : "");
                }
            return "the end of the pass";
        }

        while (next < Math.Min(count, maxInFlight)) Start(next++);
        while (done < count)
        {
            var reply = await ReadAsync(cancellation);
            int stepDone;
            switch (reply.Message)
            {
                case HeadResult h when h.PassId == passId:
                    stepDone = h.MicroBatch * variants + h.Variant;
                    objectives[stepDone] = h.Objective;
                    h.SequenceNll.CopyTo(nll[h.Variant], h.MicroBatch * microBatchSize);
                    h.SequenceKl.CopyTo(kl[h.Variant], h.MicroBatch * microBatchSize);
                    headDone[stepDone] = true;
                    break;
                case BackwardDone b when b.PassId == passId:
                    stepDone = b.MicroBatch * variants;
                    backwardDone[stepDone] = true;
                    break;
                default:
                    await UnexpectedAsync(reply, Doing(), cancellation, passId);
                    continue;
            }
            if (!Complete(stepDone)) continue;
            done++;
            tokensDone += (long)Batch(stepDone / variants) * positions;
            progress?.Report(new PassProgress(done, count, tokensDone, clock.Elapsed));
            if (next < count) Start(next++);
        }

        foreach (var i in all) _refs.Tell(i, new EndPass { PassId = passId }, _inbox.Ref);
        var ended = await GatherAsync<PassEnded>(all, _ => "the end of a pass", cancellation, passId);
        var wall = clock.Elapsed.TotalSeconds;
        for (var i = 0; i < ended.Length; i++) PeakBytes[i] = ended[i]!.PeakBytes;
        var idle = wall > 0 ? Math.Clamp(1 - ended.Average(e => e!.BusySeconds) / wall, 0, 1) : 0;
        return new PassOutcome(objectives.Sum(), nll, kl, idle);
    }

    // --- Scores and compaction ---------------------------------------------------------------------------------------

    public Task<IReadOnlyList<LayerScores>> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation) =>
        WithRecoveryAsync<IReadOnlyList<LayerScores>>("scoring", async () =>
        {
            var all = Enumerable.Range(0, _stages.Length).ToArray();
            foreach (var i in all) _refs.Tell(i, new ComputeScores { Method = ProtocolMapping.ToProto(method), Seed = seed }, _inbox.Ref);
            var scores = await GatherAsync<Scores>(all, _ => "scoring", cancellation);
            return scores.SelectMany(s => ProtocolMapping.FromProto(s!)).OrderBy(s => s.Layer).ToArray();
        }, restore: RedoLastGradientPassAsync, cancellation);

    /// <summary>A re-created stage has no gradients: the pass that made them is run again (all stages, same order, same bytes).</summary>
    private async Task RedoLastGradientPassAsync(CancellationToken cancellation)
    {
        if (_lastGradientPass is not { } pass) return;
        Log.Warning("Redoing the calibration pass ({Sequences} sequences) so that the re-created stage has its gradients", pass.Sequences.Count);
        await RunPassOnceAsync(pass with { Progress = null }, cancellation);
    }

    public async IAsyncEnumerable<ShardTensor> CompactAsync(PruningPlan plan, [EnumeratorCancellation] CancellationToken cancellation)
    {
        // One stage at a time, so the coordinator never holds more than the tensor being written. A stage lost midway
        // is re-created and streams again; the tensors that already arrived are skipped (they are the same bytes).
        for (var i = 0; i < _stages.Length; i++)
        {
            var received = 0;
            while (true)
            {
                var stream = new CompactionStream(this, i, plan, skip: received);
                await using (stream)
                {
                    while (await stream.NextAsync(cancellation) is { } tensor)
                    {
                        received++;
                        yield return tensor;
                    }
                }
                if (stream.Lost is not { } lost) break;
                await RecoverAsync(lost, "compaction", cancellation);
            }
        }
    }

    public Task<IReadOnlyDictionary<string, string>> CompactIntoAsync(PruningPlan plan, string folder, Engine.Checkpoints.DType dtype, CancellationToken cancellation)
    {
        var files = Enumerable.Range(0, _stages.Length).Select(i => ShardFiles.Name(i, _stages.Length)).ToArray();
        var written = new Compacted?[_stages.Length];
        return WithRecoveryAsync<IReadOnlyDictionary<string, string>>("compaction", async () =>
        {
            var pending = Enumerable.Range(0, _stages.Length).Where(i => written[i] is null).ToArray();
            foreach (var i in pending)
            {
                var request = CompactRequest(i, plan);
                request.WriteFile = new WriteFile { Path = Path.Combine(folder, files[i]), Dtype = ProtocolMapping.ToProto(dtype) };
                _refs.Tell(i, request, _inbox.Ref);
            }
            var replies = await GatherAsync<Compacted>(pending, _ => "compaction", cancellation);
            foreach (var i in pending) written[i] = replies[i];
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < written.Length; i++)
                foreach (var name in written[i]!.Tensors) map[name] = files[i];
            return map;
        }, restore: null, cancellation);
    }

    /// <summary>
    /// Starts a session (a pass or a sampling run) on every stage: each is sent <paramref name="begin"/> with its data
    /// links (single-use tokens, stage i's downstream pointing at stage i+1's endpoint), and once all have armed their
    /// upstream side, told to connect downstream. Returns every stage's index, for the session's later steps.
    /// </summary>
    private async Task<int[]> StartSessionAsync<TBegun>(long id, Func<Link?, Link?, object> begin, string starting, CancellationToken cancellation)
        where TBegun : class
    {
        var tokens = Enumerable.Range(0, _stages.Length - 1).Select(_ => ByteString.CopyFrom(RandomNumberGenerator.GetBytes(32))).ToArray();
        for (var i = 0; i < _stages.Length; i++)
            _refs.Tell(i, begin(i > 0 ? new Link { Token = tokens[i - 1] } : null,
                i < _stages.Length - 1 ? new Link { Endpoint = _dataEndpoints[i + 1], Token = tokens[i] } : null), _inbox.Ref);
        var all = Enumerable.Range(0, _stages.Length).ToArray();
        await GatherAsync<TBegun>(all, _ => starting, cancellation, id);
        foreach (var i in all) _refs.Tell(i, new OpenLinks { PassId = id }, _inbox.Ref);
        await GatherAsync<LinksOpen>(all, _ => "opening the data links", cancellation, id);
        return all;
    }

    private Compact CompactRequest(int stage, PruningPlan plan)
    {
        var request = new Compact();
        request.Layers.AddRange(PruneJob.PartFor(_stages[stage].Descriptor, plan).Select(ProtocolMapping.ToProto));
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        if (_directory is not null)
        {
            _directory.Lost -= OnNodeLost;
            _directory.Back -= OnNodeBack;
        }
        await _inbox.DisposeAsync();
    }
}
