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
    private List<List<TensorPayload>> _parts = [];
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
        Receive<LoadMasks>(m => Guard("load-masks", () =>
        {
            _worker!.LoadMasks(m.Variants.Select(v => (IReadOnlyList<LayerPlan>)v.Layers.Select(FromKeep).ToArray()).ToArray());
            Sender.Tell(new MasksLoaded { Variants = m.Variants.Count });
        }));
        Receive<QueryBusyTime>(_ => Sender.Tell(new BusyTime { Seconds = _worker!.BusyTime.TotalSeconds }));
    }

    private void Load(LoadShard m) => Guard("load", () =>
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _worker = null; // release the old shard before reading the new one
        using var checkpoint = Checkpoint.Open(m.ModelPath);
        var shard = ShardLoader.Load(checkpoint, m.FirstLayer, m.EndLayer, m.Embedding, m.Head);
        _worker = new ShardWorker(shard);
        _stage = $"{m.StageName} [{m.FirstLayer}, {m.EndLayer})";
        Log.Information("Loaded stage {Stage} from {Model}: {Parameters:N0} parameters in {Seconds:F1} s", _stage, m.ModelPath, shard.ParameterCount, clock.Elapsed.TotalSeconds);
        Become(Loaded);
        Sender.Tell(new ShardLoaded { Parameters = shard.ParameterCount, Seconds = clock.Elapsed.TotalSeconds });
    });

    private void OnForward(Forward m, IReadOnlyList<TensorPayload> tensors)
    {
        var tokens = TensorConversions.ReadTokens(TensorConversions.Find(tensors, "tokens") ?? throw new InvalidDataException("Forward without a 'tokens' tensor"));
        var hidden = TensorConversions.Find(tensors, "hidden") is { } h ? TensorConversions.ReadFloats(h) : null;
        var step = _worker!.Forward(m.MicroBatch, tokens, hidden, m.Batch, m.Positions, ToObjective(m.Objective), m.TotalSequences, m.Variant);
        var done = new ForwardDone { MicroBatch = m.MicroBatch, Objective = step.Objective };
        if (step.SequenceNll is { } nll) done.SequenceNll.AddRange(nll);
        if (step.SequenceKl is { } kl) done.SequenceKl.AddRange(kl);
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
        var plan = m.Layers.Select(FromKeep).ToArray();
        var tensors = ShardTensors.Of(_worker!.Shard, _worker.Compact(plan));
        _parts = [];
        if (m.SharedOutputFile.Length > 0)
        {
            var dtype = DTypes.TryParse(m.Dtype, out var parsed) ? parsed : DType.F32;
            SafeTensorsWriter.Write(m.SharedOutputFile, tensors.Select(t => new NamedTensor(t.Name, t.Shape, t.Data)).ToArray(), dtype,
                new Dictionary<string, string> { ["format"] = "pt" });
            var written = new Compacted { Parts = 0 };
            written.Written.AddRange(tensors.Select(t => t.Name));
            Sender.Tell(written);
            return;
        }
        var batch = new List<TensorPayload>();
        long bytes = 0;
        foreach (var t in tensors)
        {
            if (batch.Count > 0 && bytes + t.Data.Length * 4L > PartBytes)
            {
                _parts.Add(batch);
                batch = [];
                bytes = 0;
            }
            batch.Add(TensorPayload.FromFloats(t.Name, t.Data, t.Shape));
            bytes += t.Data.Length * 4L;
        }
        _parts.Add(batch);
        Sender.Tell(new Compacted { Parts = _parts.Count });
    }

    private void OnFetchPart(FetchPart m)
    {
        if (m.Part < 0 || m.Part >= _parts.Count) throw new ArgumentException($"part {m.Part} of {_parts.Count} does not exist; send Compact first");
        var part = _parts[m.Part];
        _parts[m.Part] = []; // each part is fetched once; release it
        Reply(new CompactedPart { Part = m.Part }, part);
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

    /// <summary>A layer's kept units as the protocol carries them (compaction and masked evaluation).</summary>
    public static LayerKeep ToKeep(LayerPlan l)
    {
        var keep = new LayerKeep { Layer = l.Layer };
        keep.KvGroups.AddRange(l.KeptKvGroups);
        keep.Neurons.AddRange(l.KeptMlpNeurons);
        return keep;
    }

    public static LayerPlan FromKeep(LayerKeep l) => new(l.Layer, 0, 0, [.. l.KvGroups], [.. l.Neurons], [], []);

    public static ObjectiveKind ToObjective(Objective o) => o switch
    {
        Objective.SequenceNll => ObjectiveKind.SequenceNll,
        Objective.KlToDense => ObjectiveKind.KlToDense,
        Objective.MaxLogit => ObjectiveKind.MaxLogit,
        Objective.LmLoss => ObjectiveKind.LanguageModelLoss,
        _ => ObjectiveKind.None,
    };

    public static Objective ToProto(ObjectiveKind o) => o switch
    {
        ObjectiveKind.SequenceNll => Objective.SequenceNll,
        ObjectiveKind.KlToDense => Objective.KlToDense,
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
