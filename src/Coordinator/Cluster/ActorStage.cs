using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.GpuNode;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// A pipeline stage served by a node actor, in this process or on another machine: the same messages either way.
/// Requests are told in issue order (one connection, FIFO), and every answer is awaited under death watch, so a
/// node that crashes or falls silent fails the request with its name and the stage instead of hanging it.
/// </summary>
public sealed class ActorStage(string name, ActorRef node, StageDescriptor descriptor) : IStage
{
    /// <summary>Long enough for any single request on a big shard; node loss is detected by heartbeats long before.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromHours(6);

    public string Name { get; } = name;
    public StageDescriptor Descriptor { get; } = descriptor;
    public ActorRef Node { get; } = node;

    /// <summary>With shared storage: the safetensors file this node writes its compacted tensors into, and their dtype.</summary>
    public string? SharedOutputFile { get; set; }
    public string SharedOutputDType { get; set; } = "F32";

    public async Task<ShardLoaded> LoadAsync(string jobId, string modelPath, CancellationToken cancellation,
        StageSchedule schedule = StageSchedule.AllLayers, int inFlight = 4) =>
        (ShardLoaded)(await RequestAsync("load", new LoadShard
        {
            JobId = jobId, StageName = Name, ModelPath = modelPath, FirstLayer = Descriptor.FirstLayer, EndLayer = Descriptor.EndLayer,
            Embedding = Descriptor.HasEmbedding, Head = Descriptor.HasHead, Schedule = schedule.Name(), InFlight = inFlight,
        }, [], cancellation)).Message;

    /// <summary>The node's memory: the schedule it ran, planned bytes, peak RSS and peak managed heap.</summary>
    public async Task<StageMemory> MemoryAsync(CancellationToken cancellation) =>
        ShardNodeActor.FromProto((MemoryReport)(await RequestAsync("memory", new QueryMemory(), [], cancellation)).Message);

    public async Task BeginPassAsync(CancellationToken cancellation) => await RequestAsync("begin-pass", new BeginPass(), [], cancellation);

    public async Task<TimeSpan> BusyTimeAsync(CancellationToken cancellation) =>
        TimeSpan.FromSeconds(((BusyTime)(await RequestAsync("busy-time", new QueryBusyTime(), [], cancellation)).Message).Seconds);

    public async Task<StepResult> ForwardAsync(ForwardStep step, CancellationToken cancellation)
    {
        List<TensorPayload> tensors = [TensorConversions.Tokens(step.Tokens)];
        if (step.Hidden is { } h) tensors.Add(TensorPayload.FromFloats("hidden", h, h.Length));
        var reply = await RequestAsync("forward", new Forward
        {
            MicroBatch = step.MicroBatch, Batch = step.Batch, Positions = step.Positions,
            Objective = ShardNodeActor.ToProto(step.Objective), TotalSequences = step.TotalSequences,
        }, tensors, cancellation);
        var done = (ForwardDone)reply.Message;
        var output = TensorConversions.Find(reply.Tensors, "output") is { } o ? TensorConversions.ReadFloats(o) : [];
        return new StepResult(output, done.Objective, done.SequenceNll.Count > 0 ? [.. done.SequenceNll] : null);
    }

    public async Task<float[]?> BackwardAsync(int microBatch, float[] dOutput, CancellationToken cancellation)
    {
        var reply = await RequestAsync("backward", new Backward { MicroBatch = microBatch }, [TensorPayload.FromFloats("grad", dOutput, dOutput.Length)], cancellation);
        return TensorConversions.Find(reply.Tensors, "grad") is { } g ? TensorConversions.ReadFloats(g) : null;
    }

    public async Task<LayerScores[]> ScoresAsync(PruningMethod method, int seed, CancellationToken cancellation)
    {
        var scores = (Scores)(await RequestAsync("scoring", new ComputeScores { Method = ShardNodeActor.ToProto(method), Seed = seed }, [], cancellation)).Message;
        return scores.Layers.Select(l => new LayerScores(l.Layer, [.. l.Attention], [.. l.Mlp])).ToArray();
    }

    public async Task<IReadOnlyList<ShardTensor>> CompactAsync(IReadOnlyList<LayerPlan> plan, CancellationToken cancellation)
    {
        var request = new Compact { SharedOutputFile = SharedOutputFile ?? "", Dtype = SharedOutputDType };
        foreach (var l in plan)
        {
            var keep = new LayerKeep { Layer = l.Layer };
            keep.KvGroups.AddRange(l.KeptKvGroups);
            keep.Neurons.AddRange(l.KeptMlpNeurons);
            request.Layers.Add(keep);
        }
        var compacted = (Compacted)(await RequestAsync("compaction", request, [], cancellation)).Message;
        if (SharedOutputFile is not null) return [.. compacted.Written.Select(n => new ShardTensor(n, [], () => throw new InvalidOperationException($"tensor '{n}' was written by the node")))];
        var parts = new PartCursor(this, compacted, cancellation);
        return compacted.TensorNames.Select((name, i) => new ShardTensor(name, [], () => parts.Take(i, name))).ToArray();
    }

    /// <summary>
    /// Fetches the node's parts in order as the writer asks for their tensors, so the coordinator holds one part at a
    /// time; a tensor is handed out once.
    /// </summary>
    private sealed class PartCursor(ActorStage stage, Compacted compacted, CancellationToken cancellation)
    {
        private readonly Dictionary<int, WeightMatrix> _fetched = new();
        private int _nextPart, _nextTensor;

        public WeightMatrix Take(int index, string name)
        {
            while (!_fetched.ContainsKey(index))
            {
                if (_nextPart >= compacted.Parts) throw new InvalidDataException($"stage {stage.Name}: tensor '{name}' is in none of its {compacted.Parts} parts");
                // The previous part's tensors are written; collect them before the next arrives, or a whole
                // model's worth of large-object garbage passes through the coordinator before the GC runs.
                if (_nextPart > 0) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
                var reply = stage.RequestAsync("compaction", new FetchPart { Part = _nextPart }, [], cancellation).GetAwaiter().GetResult();
                var expected = compacted.PartSizes.Count > _nextPart ? compacted.PartSizes[_nextPart] : reply.Tensors.Count;
                if (reply.Tensors.Count != expected)
                    throw new InvalidDataException($"stage {stage.Name}: part {_nextPart} carried {reply.Tensors.Count} tensors, expected {expected}");
                foreach (var t in reply.Tensors)
                {
                    if (_nextTensor >= compacted.TensorNames.Count || compacted.TensorNames[_nextTensor] != t.Name)
                        throw new InvalidDataException($"stage {stage.Name}: part {_nextPart} carried '{t.Name}' out of order");
                    _fetched[_nextTensor++] = TensorConversions.ReadWeight(t);
                }
                _nextPart++;
            }
            _fetched.Remove(index, out var weight);
            return weight!;
        }
    }

    private async Task<(IMessage Message, IReadOnlyList<TensorPayload> Tensors)> RequestAsync(string operation, IMessage request,
        IReadOnlyList<TensorPayload> tensors, CancellationToken cancellation)
    {
        object reply;
        try
        {
            reply = await Node.Ask<object>(tensors.Count == 0 ? request : new TensorMessage(request, tensors), RequestTimeout, cancellation);
        }
        catch (ActorTerminatedException e)
        {
            throw new StageFailedException(Name, operation, $"node {Node.Path.Address} was lost: {e.Reason}", e);
        }
        catch (TimeoutException e)
        {
            throw new StageFailedException(Name, operation, $"node {Node.Path.Address} did not answer: {e.Message}", e);
        }
        return Unwrap(operation, reply);
    }

    private (IMessage Message, IReadOnlyList<TensorPayload> Tensors) Unwrap(string operation, object reply) => reply switch
    {
        StageFailure f => throw new StageFailedException(Name, f.Operation.Length > 0 ? f.Operation : operation, $"node {Node.Path.Address}: {f.Message}"),
        TensorMessage t => (t.Message, t.Tensors),
        IMessage m => (m, []),
        _ => throw new StageFailedException(Name, operation, $"unexpected reply {reply.GetType().Name}"),
    };
}
