using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// Everything a node does with its shard, free of transport: forward with tapes kept per micro-batch in flight,
/// backward that accumulates weight gradients, unit scores, compaction, and evaluation at the head. Not
/// thread-safe: one caller at a time (the node actor's mailbox, or <see cref="LocalStage"/>'s single reader).
/// Backward must visit micro-batches in ascending order so that gradient sums are bitwise reproducible.
/// </summary>
public sealed class ShardWorker
{
    public LlamaShard Shard { get; }
    private readonly LayerGradients?[] _grads;
    private readonly Dictionary<int, LayerTape[]> _tapes = new();
    private readonly Stack<LayerTape[]> _freeTapes = new();
    private LayerTape? _scratch;
    private (int Batch, int Positions) _shape;
    private int _lastBackward = -1;

    public ShardWorker(LlamaShard shard)
    {
        Shard = shard;
        _grads = new LayerGradients?[shard.Layers.Count];
    }

    /// <summary>Time spent computing since creation: the pipeline's idle fraction is measured against it.</summary>
    public TimeSpan BusyTime => TimeSpan.FromTicks(_busyTicks * TimeSpan.TicksPerSecond / System.Diagnostics.Stopwatch.Frequency);
    private long _busyTicks;

    public StageDescriptor Descriptor => new(Shard.FirstLayer, Shard.EndLayer, Shard.HasEmbedding, Shard.HasHead);

    /// <summary>Clears gradients and tapes for a new calibration pass.</summary>
    public void BeginPass()
    {
        foreach (var tapes in _tapes.Values) _freeTapes.Push(tapes);
        _tapes.Clear();
        for (var i = 0; i < _grads.Length; i++) _grads[i]?.Clear();
        _lastBackward = -1;
    }

    /// <summary>
    /// Runs the shard on a micro-batch: tokens[B*T] at the first stage, hidden[B,T,D] elsewhere. Returns the
    /// hidden state for the next stage; at the head stage with an objective, returns the gradient for the
    /// previous stage (having already run this shard's own backward) and the objective's contribution.
    /// </summary>
    public StepResult Forward(int microBatch, int[] tokens, float[]? hidden, int batch, int positions, ObjectiveKind objective, int totalSequences)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return ForwardCore(microBatch, tokens, hidden, batch, positions, objective, totalSequences); }
        finally { _busyTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start; }
    }

    private StepResult ForwardCore(int microBatch, int[] tokens, float[]? hidden, int batch, int positions, ObjectiveKind objective, int totalSequences)
    {
        var n = batch * positions;
        if (tokens.Length != n) throw new ArgumentException($"micro-batch {microBatch}: {tokens.Length} tokens, expected B*T = {batch}*{positions}");
        var x = new float[n * Shard.Hidden];
        if (Shard.HasEmbedding) Shard.Embed(x, tokens);
        else
        {
            if (hidden is null || hidden.Length != x.Length)
                throw new ArgumentException($"micro-batch {microBatch}: stage [{Shard.FirstLayer}, {Shard.EndLayer}) needs hidden states of B*T*D = {n}*{Shard.Hidden}");
            hidden.CopyTo(x, 0);
        }
        if (!objective.HasGradient())
        {
            Shard.ForwardLayers(x, batch, positions, scratch: Scratch(batch, positions));
            if (objective != ObjectiveKind.SequenceNll || !Shard.HasHead) return new StepResult(x, 0);
            var nll = SequenceNll(x, tokens, batch, positions);
            return new StepResult([], nll.Sum(), nll);
        }
        var tapes = RentTapes(batch, positions);
        _tapes[microBatch] = tapes;
        Shard.ForwardLayers(x, batch, positions, tapes);
        if (!Shard.HasHead) return new StepResult(x, 0);
        var dx = new float[x.Length];
        var value = ObjectiveKinds.Create(objective, totalSequences).ForwardBackward(Shard, x, dx, tokens, batch, positions);
        return new StepResult(BackwardCore(microBatch, dx) ?? [], value);
    }

    /// <summary>Backward of a micro-batch whose forward kept tapes; returns dx for the previous stage, or null at the first.</summary>
    public float[]? Backward(int microBatch, float[] dOutput)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return BackwardCore(microBatch, dOutput); }
        finally { _busyTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start; }
    }

    private float[]? BackwardCore(int microBatch, float[] dOutput)
    {
        if (!_tapes.Remove(microBatch, out var tapes)) throw new InvalidOperationException($"micro-batch {microBatch} has no forward tape on stage [{Shard.FirstLayer}, {Shard.EndLayer})");
        if (microBatch <= _lastBackward) throw new InvalidOperationException($"backward of micro-batch {microBatch} after {_lastBackward}: order must ascend");
        _lastBackward = microBatch;
        for (var i = 0; i < _grads.Length; i++) _grads[i] ??= new LayerGradients(Shard.Layers[i]);
        var (batch, positions) = _shape;
        Shard.BackwardLayers(dOutput, batch, positions, tapes, _grads, Scratch(batch, positions));
        _freeTapes.Push(tapes);
        return Shard.HasEmbedding ? null : dOutput;
    }

    public LayerScores[] Scores(PruningMethod method, int seed) =>
        Shard.Layers.Select((layer, i) => UnitSaliency.Score(layer, _grads[i], method, seed)).ToArray();

    /// <summary>The compacted layers for the plan's entries that fall in this shard.</summary>
    public LayerWeights[] Compact(IReadOnlyList<LayerPlan> plan) =>
        Shard.Layers.Select(layer => Compactor.Compact(layer, ShardTensors.PlanFor(plan, layer.Index))).ToArray();

    /// <summary>
    /// The stage's tensors after compaction, in checkpoint order; each compacted tensor is built from the held
    /// weights only when its producer is called, so at most one exists at a time.
    /// </summary>
    public IReadOnlyList<ShardTensor> CompactTensors(IReadOnlyList<LayerPlan> plan) => ShardTensors.Compacted(Shard, plan);

    /// <summary>Head stage, evaluation: sum of next-token NLL per sequence (the final position predicts nothing).</summary>
    private double[] SequenceNll(float[] x, int[] tokens, int batch, int positions)
    {
        int d = Shard.Hidden, vocab = Shard.Vocab;
        var normed = new float[positions * d];
        var logits = new float[positions * vocab];
        var targets = new int[positions];
        var result = new double[batch];
        for (var b = 0; b < batch; b++)
        {
            Shard.FinalNormForward(normed, default, x.AsSpan(b * positions * d, positions * d), positions);
            Shard.Logits(logits, normed, positions);
            for (var t = 0; t < positions; t++) targets[t] = t + 1 < positions ? tokens[b * positions + t + 1] : -1;
            result[b] = CrossEntropy.Forward(logits, targets, vocab);
        }
        return result;
    }

    private LayerTape Scratch(int batch, int positions)
    {
        if (_scratch is null || _shape != (batch, positions))
        {
            if (_tapes.Count > 0 && _shape != (batch, positions))
                throw new InvalidOperationException($"micro-batch shape changed from {_shape} to ({batch}, {positions}) with tapes in flight");
            _freeTapes.Clear();
            _scratch = Shard.CreateScratch(batch, positions);
            _shape = (batch, positions);
        }
        return _scratch;
    }

    private LayerTape[] RentTapes(int batch, int positions)
    {
        Scratch(batch, positions);
        return _freeTapes.Count > 0 ? _freeTapes.Pop() : Shard.CreateTapes(batch, positions);
    }
}

/// <summary>Which part of the model a stage holds.</summary>
public sealed record StageDescriptor(int FirstLayer, int EndLayer, bool HasEmbedding, bool HasHead);

/// <summary>A forward step's output: hidden states (or, at the head in a gradient pass, dx) and the objective's share.</summary>
public sealed record StepResult(float[] Tensor, double Objective, double[]? SequenceNll = null);
