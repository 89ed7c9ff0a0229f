using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.GpuNode;

/// <summary>
/// The node actor: owns one layer shard and serves the pruning protocol (pruning.proto) one message at a time.
/// States: Empty (only LoadShard) and Loaded (everything else). All state is re-creatable from LoadShard plus the
/// requests after it, so a replacement node can take over a stage. Failures answer StageFailure, never silence.
/// </summary>
public sealed class ShardNodeActor : Actor
{
    /// <summary>Actor name under /user: the coordinator addresses nodes at {address}/user/shard.</summary>
    public const string Name = "shard";

    /// <summary>Bytes per CompactedPart message: big enough to amortize, small enough to interleave heartbeats.</summary>
    private const long PartBytes = 32L << 20;

    private ShardWorker? _worker;
    private List<List<ShardTensor>> _parts = [];
    private string _stage = "(unloaded)";

    public ShardNodeActor() => Become(Empty);

    private void Empty()
    {
        Receive<LoadShard>(Load);
        ReceiveAny(m => Fail("request", $"{m.GetType().Name} before LoadShard"));
    }

    private void Loaded()
    {
        Receive<LoadShard>(Load);
        Receive<BeginPass>(_ => Guard("begin-pass", () => { _worker!.BeginPass(); Sender.Tell(new PassBegun()); }));
        ReceiveWithTensors<Forward>((m, t) => Guard("forward", () => OnForward(m, t)));
        ReceiveWithTensors<Backward>((m, t) => Guard("backward", () => OnBackward(m, t)));
        Receive<ComputeScores>(m => Guard("scoring", () => Sender.Tell(ToProto(_worker!.Scores(ToMethod(m.Method), m.Seed)))));
        Receive<Compact>(m => Guard("compaction", () => OnCompact(m)));
        Receive<FetchPart>(m => Guard("compaction", () => OnFetchPart(m)));
        Receive<QueryBusyTime>(_ => Sender.Tell(new BusyTime { Seconds = _worker!.BusyTime.TotalSeconds }));
        Receive<QueryMemory>(_ => Guard("memory", () => Sender.Tell(ToProto(_worker!.Memory))));
    }

    private void Load(LoadShard m) => Guard("load", () =>
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _worker = null; // release the old shard before reading the new one
        using var checkpoint = Checkpoint.Open(m.ModelPath);
        var shard = ShardLoader.Load(checkpoint, m.FirstLayer, m.EndLayer, m.Embedding, m.Head);
        _worker = new ShardWorker(shard, StageSchedules.Parse(m.Schedule, "LoadShard.schedule"), m.InFlight > 0 ? m.InFlight : 4);
        _stage = $"{m.StageName} [{m.FirstLayer}, {m.EndLayer})";
        Log.Information("Loaded stage {Stage} from {Model}: {Parameters:N0} parameters ({Bytes:N0} bytes held), schedule {Schedule}, in {Seconds:F1} s; RSS {Rss:N0} bytes",
            _stage, m.ModelPath, shard.ParameterCount, shard.HeldBytes, _worker.Schedule.Name(), clock.Elapsed.TotalSeconds, ProcessMemory.ResidentBytes());
        Become(Loaded);
        Sender.Tell(new ShardLoaded { Parameters = shard.ParameterCount, Seconds = clock.Elapsed.TotalSeconds });
    });

    private void OnForward(Forward m, IReadOnlyList<TensorPayload> tensors)
    {
        var tokens = TensorConversions.ReadTokens(TensorConversions.Find(tensors, "tokens") ?? throw new InvalidDataException("Forward without a 'tokens' tensor"));
        var hidden = TensorConversions.Find(tensors, "hidden") is { } h ? TensorConversions.ReadFloats(h) : null;
        var step = _worker!.Forward(m.MicroBatch, tokens, hidden, m.Batch, m.Positions, ToObjective(m.Objective), m.TotalSequences);
        var done = new ForwardDone { MicroBatch = m.MicroBatch, Objective = step.Objective };
        if (step.SequenceNll is { } nll) done.SequenceNll.AddRange(nll);
        Reply(done, step.Tensor.Length == 0 ? [] : [TensorPayload.FromFloats("output", step.Tensor, step.Tensor.Length)]);
    }

    private void OnBackward(Backward m, IReadOnlyList<TensorPayload> tensors)
    {
        var grad = TensorConversions.ReadFloats(TensorConversions.Find(tensors, "grad") ?? throw new InvalidDataException("Backward without a 'grad' tensor"));
        var dx = _worker!.Backward(m.MicroBatch, grad);
        Reply(new BackwardDone { MicroBatch = m.MicroBatch }, dx is null ? [] : [TensorPayload.FromFloats("grad", dx, dx.Length)]);
    }

    private void OnCompact(Compact m)
    {
        var plan = m.Layers.Select(l => new LayerPlan(l.Layer, 0, 0, [.. l.KvGroups], [.. l.Neurons], [], [])).ToArray();
        // Lazy: each compacted tensor is built from the held weights only when it is written or fetched.
        var tensors = _worker!.CompactTensors(plan);
        _parts = [];
        if (m.SharedOutputFile.Length > 0)
        {
            var dtype = DTypes.TryParse(m.Dtype, out var parsed) ? parsed : DType.F32;
            SafeTensorsWriter.Write(m.SharedOutputFile, tensors.Select(t => NamedTensor.FromWeight(t.Name, t.Shape, t.Produce)).ToArray(), dtype,
                new Dictionary<string, string> { ["format"] = "pt" });
            var written = new Compacted { Parts = 0 };
            written.Written.AddRange(tensors.Select(t => t.Name));
            Sender.Tell(written);
            return;
        }
        // Parts of about PartBytes (counted at 4 bytes per element, an upper bound), built when fetched.
        var batch = new List<ShardTensor>();
        long bytes = 0;
        foreach (var t in tensors)
        {
            var size = 4L * t.Shape.Aggregate(1L, (a, b) => a * b);
            if (batch.Count > 0 && bytes + size > PartBytes)
            {
                _parts.Add(batch);
                batch = [];
                bytes = 0;
            }
            batch.Add(t);
            bytes += size;
        }
        _parts.Add(batch);
        var reply = new Compacted { Parts = _parts.Count };
        reply.TensorNames.AddRange(tensors.Select(t => t.Name));
        reply.PartSizes.AddRange(_parts.Select(p => p.Count));
        Sender.Tell(reply);
    }

    private void OnFetchPart(FetchPart m)
    {
        if (m.Part < 0 || m.Part >= _parts.Count) throw new ArgumentException($"part {m.Part} of {_parts.Count} does not exist; send Compact first");
        var part = _parts[m.Part];
        _parts[m.Part] = []; // each part is fetched once; release it
        // The previous part's tensors are written by now. They live in the large-object heap, which the GC would
        // otherwise let grow by a whole model's worth before collecting; arrays of floats cost nothing to mark.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
        Log.Debug("Stage {Stage}: compaction part {Part} of {Parts} ({Tensors} tensors); RSS {Rss:N0}, peak {Peak:N0}, managed heap {Managed:N0} bytes",
            _stage, m.Part + 1, _parts.Count, part.Count, ProcessMemory.ResidentBytes(), ProcessMemory.PeakResidentBytes(), GC.GetTotalMemory(false));
        Reply(new CompactedPart { Part = m.Part }, part.Select(t => TensorConversions.FromWeight(t.Name, t.Produce(), t.Shape)).ToArray());
    }

    private void Reply(IMessage message, IReadOnlyList<TensorPayload> tensors) =>
        Sender.Tell(tensors.Count == 0 ? message : new TensorMessage(message, tensors));

    private void Guard(string operation, Action work)
    {
        try
        {
            work();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Fail(operation, e.Message);
            Log.Error(e, "Stage {Stage}: {Operation} failed", _stage, operation);
        }
    }

    private void Fail(string operation, string message) => Sender.Tell(new StageFailure { Operation = operation, Message = message });

    public static ObjectiveKind ToObjective(Objective o) => o switch
    {
        Objective.SequenceNll => ObjectiveKind.SequenceNll,
        Objective.MaxLogit => ObjectiveKind.MaxLogit,
        Objective.LmLoss => ObjectiveKind.LanguageModelLoss,
        _ => ObjectiveKind.None,
    };

    public static Objective ToProto(ObjectiveKind o) => o switch
    {
        ObjectiveKind.SequenceNll => Objective.SequenceNll,
        ObjectiveKind.MaxLogit => Objective.MaxLogit,
        ObjectiveKind.LanguageModelLoss => Objective.LmLoss,
        _ => Objective.None,
    };

    public static PruningMethod ToMethod(Method m) => m switch
    {
        Method.Magnitude => PruningMethod.Magnitude,
        Method.TaylorLoss => PruningMethod.TaylorLoss,
        Method.Random => PruningMethod.Random,
        _ => PruningMethod.Nirvana,
    };

    public static Method ToProto(PruningMethod m) => m switch
    {
        PruningMethod.Magnitude => Method.Magnitude,
        PruningMethod.TaylorLoss => Method.TaylorLoss,
        PruningMethod.Random => Method.Random,
        _ => Method.Nirvana,
    };

    public static MemoryReport ToProto(StageMemory memory) => new()
    {
        Schedule = memory.Schedule, PlannedBytes = memory.PlannedBytes, PeakResidentBytes = memory.PeakResidentBytes, PeakManagedBytes = memory.PeakManagedBytes,
    };

    public static StageMemory FromProto(MemoryReport report) =>
        new(report.Schedule, report.PlannedBytes, report.PeakResidentBytes, report.PeakManagedBytes);

    public static Scores ToProto(LayerScores[] scores)
    {
        var result = new Scores();
        foreach (var s in scores)
        {
            var layer = new LayerScore { Layer = s.Layer };
            layer.Attention.AddRange(s.Attention);
            layer.Mlp.AddRange(s.Mlp);
            result.Layers.Add(layer);
        }
        return result;
    }
}
