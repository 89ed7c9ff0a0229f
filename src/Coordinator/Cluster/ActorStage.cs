using Google.Protobuf;
using NirvanaCluster.Actors.Core;
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

    public async Task<ShardLoaded> LoadAsync(string jobId, string modelPath, CancellationToken cancellation) =>
        (ShardLoaded)(await RequestAsync("load", new LoadShard
        {
            JobId = jobId, StageName = Name, ModelPath = modelPath, FirstLayer = Descriptor.FirstLayer, EndLayer = Descriptor.EndLayer,
            Embedding = Descriptor.HasEmbedding, Head = Descriptor.HasHead,
        }, [], cancellation)).Message;

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
            Objective = ShardNodeActor.ToProto(step.Objective), TotalSequences = step.TotalSequences, Variant = step.Variant,
        }, tensors, cancellation);
        var done = (ForwardDone)reply.Message;
        var output = TensorConversions.Find(reply.Tensors, "output") is { } o ? TensorConversions.ReadFloats(o) : [];
        return new StepResult(output, done.Objective, done.SequenceNll.Count > 0 ? [.. done.SequenceNll] : null,
            done.SequenceKl.Count > 0 ? [.. done.SequenceKl] : null);
    }

    public async Task LoadMasksAsync(IReadOnlyList<IReadOnlyList<LayerPlan>> variants, CancellationToken cancellation)
    {
        var request = new LoadMasks();
        foreach (var variant in variants)
        {
            var mask = new MaskVariant();
            mask.Layers.AddRange(variant.Select(ShardNodeActor.ToKeep));
            request.Variants.Add(mask);
        }
        await RequestAsync("load-masks", request, [], cancellation);
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
        request.Layers.AddRange(plan.Select(ShardNodeActor.ToKeep));
        var compacted = (Compacted)(await RequestAsync("compaction", request, [], cancellation)).Message;
        if (SharedOutputFile is not null) return [.. compacted.Written.Select(n => new ShardTensor(n, [], []))];
        var tensors = new List<ShardTensor>();
        for (var part = 0; part < compacted.Parts; part++)
        {
            var reply = await RequestAsync("compaction", new FetchPart { Part = part }, [], cancellation);
            tensors.AddRange(reply.Tensors.Select(t => new ShardTensor(t.Name, [.. t.Shape], TensorConversions.ReadFloats(t))));
        }
        return tensors;
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
