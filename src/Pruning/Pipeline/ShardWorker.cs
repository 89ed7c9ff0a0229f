using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// Everything a node does with its shard, free of transport: the stage core. Forward and backward of calibration
/// passes under one of two schedules (<see cref="StageSchedule"/>): all-layers (tapes kept per micro-batch in
/// flight, a gradient accumulator per layer) or layer-bounded (<see cref="LayerBoundedPass"/>: at most one layer's
/// gradient); then unit scores, compaction, and evaluation at the head. Not thread-safe: one caller at a time (the
/// node actor's mailbox, or <see cref="LocalStage"/>'s single reader). Backward must visit micro-batches in
/// ascending order so that gradient sums are bitwise reproducible.
/// </summary>
public sealed class ShardWorker
{
    private static readonly Serilog.ILogger Log = Serilog.Log.ForContext<ShardWorker>();
    public LlamaShard Shard { get; }
    private readonly LayerGradients?[] _grads;
    // Tapes and scratch are sized for one micro-batch shape; a pass has at most two (the last micro-batch may be
    // smaller), and a smaller one may be in flight while full ones still wait for their backward.
    private readonly Dictionary<int, (Shape Shape, LayerTape[] Tapes)> _tapes = new();
    private readonly Dictionary<Shape, Stack<LayerTape[]>> _freeTapes = new();
    private readonly Dictionary<Shape, LayerTape> _scratch = new();
    private int _lastBackward = -1;
    private LayerBoundedPass? _bounded;          // the current pass, under the layer-bounded schedule
    private LayerScores[]? _gradientScores;      // gradient-criterion scores of the last pass (its gradients are released)
    private StageSchedule _passSchedule;
    private long _plannedBytes, _peakManaged;
    private LayerMask?[][] _masks = [];
    private readonly Dictionary<int, (float[] Logits, double[] Lse)> _denseLogits = new();
    private float[]? _variantLogits;

    /// <param name="shard">the layers this stage holds</param>
    /// <param name="schedule">the schedule of calibration passes (see <see cref="Schedule"/>)</param>
    /// <param name="inFlight">micro-batches the driver keeps in flight, for the planned bytes the stage reports</param>
    public ShardWorker(LlamaShard shard, StageSchedule schedule = StageSchedule.AllLayers, int inFlight = 4)
    {
        Shard = shard;
        _grads = new LayerGradients?[shard.Layers.Count];
        Schedule = _passSchedule = schedule;
        InFlight = inFlight;
    }

    /// <summary>The schedule of calibration passes; a change takes effect at the next <see cref="BeginPass"/>.</summary>
    public StageSchedule Schedule { get; set; }

    public int InFlight { get; }

    /// <summary>Planned bytes (for the last pass's shape and schedule), peak RSS and peak managed heap so far.</summary>
    public StageMemory Memory
    {
        get
        {
            SampleHeap();
            return new StageMemory(_passSchedule.Name(), _plannedBytes, ProcessMemory.PeakResidentBytes(), _peakManaged);
        }
    }

    /// <summary>Time spent computing since creation: the pipeline's idle fraction is measured against it.</summary>
    public TimeSpan BusyTime => TimeSpan.FromTicks(_busyTicks * TimeSpan.TicksPerSecond / System.Diagnostics.Stopwatch.Frequency);
    private long _busyTicks;

    public StageDescriptor Descriptor => new(Shard.FirstLayer, Shard.EndLayer, Shard.HasEmbedding, Shard.HasHead);

    /// <summary>Clears gradients and tapes for a new calibration pass, under the current <see cref="Schedule"/>.</summary>
    public void BeginPass()
    {
        foreach (var (shape, tapes) in _tapes.Values) Free(shape, tapes);
        _tapes.Clear();
        for (var i = 0; i < _grads.Length; i++) _grads[i]?.Clear();
        _lastBackward = -1;
        _gradientScores = null;
        _passSchedule = Schedule;
        _bounded = _passSchedule == StageSchedule.LayerBounded ? new LayerBoundedPass(Shard) : null;
    }

    /// <summary>
    /// Runs the shard on a micro-batch: tokens[B*T] at the first stage, hidden[B,T,D] elsewhere. Returns the
    /// hidden state for the next stage; at the head stage with an objective, returns the gradient for the
    /// previous stage (having already run this shard's own backward) and the objective's contribution.
    /// Variant k &gt; 0 (evaluation only) runs with the k-th mask set of <see cref="LoadMasks"/>.
    /// </summary>
    public StepResult Forward(int microBatch, int[] tokens, float[]? hidden, int batch, int positions, ObjectiveKind objective, int totalSequences,
        int variant = 0)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return ForwardCore(microBatch, tokens, hidden, batch, positions, objective, totalSequences, variant); }
        finally
        {
            _busyTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            SampleHeap();
        }
    }

    private StepResult ForwardCore(int microBatch, int[] tokens, float[]? hidden, int batch, int positions, ObjectiveKind objective, int totalSequences,
        int variant)
    {
        var n = batch * positions;
        if (tokens.Length != n) throw new ArgumentException($"micro-batch {microBatch}: {tokens.Length} tokens, expected B*T = {batch}*{positions}");
        if (variant < 0 || variant > _masks.Length)
            throw new ArgumentException($"micro-batch {microBatch}: variant {variant} is not loaded (this stage holds the dense variant 0 and {_masks.Length} mask set(s))");
        if (variant > 0 && objective.HasGradient())
            throw new ArgumentException($"micro-batch {microBatch}: a gradient pass runs the dense model; masked variants are for evaluation");
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
            Shard.ForwardLayers(x, batch, positions, scratch: Scratch(batch, positions), masks: variant == 0 ? null : _masks[variant - 1]);
            if (!Shard.HasHead || objective == ObjectiveKind.None) return new StepResult(x, 0);
            if (objective == ObjectiveKind.KlToDense) return KlToDense(microBatch, variant, x, tokens, batch, positions);
            var nll = SequenceNll(x, tokens, batch, positions);
            return new StepResult([], nll.Sum(), nll);
        }
        if (microBatch == 0) Plan(batch, positions, totalSequences, objective);
        if (_passSchedule == StageSchedule.LayerBounded)
            return (_bounded ??= new LayerBoundedPass(Shard)).Forward(microBatch, x, tokens, batch, positions, objective, totalSequences, Scratch(batch, positions));
        var tapes = RentTapes(batch, positions);
        _tapes[microBatch] = (new Shape(batch, positions), tapes);
        Shard.ForwardLayers(x, batch, positions, tapes, Scratch(batch, positions));
        if (!Shard.HasHead) return new StepResult(x, 0);
        var dx = new float[x.Length];
        var value = ObjectiveKinds.Create(objective, totalSequences).ForwardBackward(Shard, x, dx, tokens, batch, positions);
        return new StepResult(BackwardCore(microBatch, dx) ?? [], value);
    }

    /// <summary>The most micro-batches of dense logits the head held at once during masked evaluation (a memory diagnostic).</summary>
    public int PeakDenseMicroBatchesHeld { get; private set; }

    /// <summary>
    /// Masked evaluation: the mask set of each variant k = 1..K, as kept units for (at least) this shard's layers.
    /// Clears the dense logits kept from an earlier evaluation.
    /// </summary>
    public void LoadMasks(IReadOnlyList<IReadOnlyList<LayerPlan>> variants)
    {
        _masks = variants.Select((plan, k) => Shard.Layers.Select(layer =>
        {
            var entry = plan.FirstOrDefault(p => p.Layer == layer.Index)
                ?? throw new ArgumentException($"mask variant {k + 1} has no entry for layer {layer.Index}");
            return (LayerMask?)LayerMask.Keeping(layer.Index, layer.KvHeads, layer.Ffn, entry.KeptKvGroups, entry.KeptMlpNeurons);
        }).ToArray()).ToArray();
        _denseLogits.Clear();
        _variantLogits = null;
    }

    /// <summary>
    /// Head stage, masked evaluation. Variant 0 keeps the micro-batch's dense logits [B,T,V]; variant k &gt; 0 is
    /// compared with them row by row. Each returns per-sequence NLL and summed KL(dense || variant) over all T
    /// positions. The dense logits go once the micro-batch's last variant is done: only the micro-batches in
    /// flight are ever held, never the whole held-out set's logits.
    /// </summary>
    private StepResult KlToDense(int microBatch, int variant, float[] x, int[] tokens, int batch, int positions)
    {
        int d = Shard.Hidden, vocab = Shard.Vocab, rows = positions * vocab;
        (float[] Logits, double[] Lse) kept;
        if (variant == 0)
        {
            _denseLogits[microBatch] = kept = (new float[batch * rows], new double[batch * positions]);
            PeakDenseMicroBatchesHeld = Math.Max(PeakDenseMicroBatchesHeld, _denseLogits.Count);
        }
        else if (!_denseLogits.TryGetValue(microBatch, out kept))
            throw new InvalidOperationException($"micro-batch {microBatch}: variant {variant} arrived before the dense variant 0 (or after the last)");
        var (dense, denseLse) = kept;
        var n = batch * positions;
        var normed = new float[n * d];
        Shard.FinalNormForward(normed, default, x, n);
        // One lm_head GEMM for the micro-batch; the dense variant writes straight into what it keeps.
        float[] logits;
        if (variant == 0) logits = dense;
        else
        {
            if (_variantLogits is null || _variantLogits.Length < batch * rows) _variantLogits = new float[batch * rows];
            logits = _variantLogits;
        }
        Shard.Logits(logits.AsSpan(0, batch * rows), normed, n);
        var rowNll = new double[n];
        var rowKl = new double[n];
        // Rows are independent: spread them over the cores, then add up per sequence in position order.
        Parallel.For(0, n, () => (new float[vocab], new float[vocab]), (r, _, buffers) =>
        {
            var (scratch, probs) = buffers;
            var row = logits.AsSpan(r * vocab, vocab);
            var lse = Evaluation.KlDivergence.LogSumExp(row, scratch);
            var t = r % positions;
            if (t + 1 < positions)
            {
                var target = tokens[r + 1];
                if ((uint)target >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"target {target} is outside [0, {vocab})");
                rowNll[r] = lse - row[target];
            }
            if (variant == 0) denseLse[r] = lse;
            else rowKl[r] = Evaluation.KlDivergence.RowKl(dense.AsSpan(r * vocab, vocab), denseLse[r], row, lse, probs, scratch);
            return buffers;
        }, _ => { });
        var nll = new double[batch];
        var kl = new double[batch];
        for (var b = 0; b < batch; b++)
            for (var t = 0; t < positions; t++)
            {
                nll[b] += rowNll[b * positions + t];
                kl[b] += rowKl[b * positions + t];
            }
        if (variant == _masks.Length) _denseLogits.Remove(microBatch);
        return new StepResult([], nll.Sum(), nll, kl);
    }

    /// <summary>Backward of a micro-batch whose forward kept tapes; returns dx for the previous stage, or null at the first.</summary>
    public float[]? Backward(int microBatch, float[] dOutput)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return BackwardCore(microBatch, dOutput); }
        finally
        {
            _busyTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            SampleHeap();
        }
    }

    private float[]? BackwardCore(int microBatch, float[] dOutput)
    {
        if (_bounded is not null) return _bounded.Backward(microBatch, dOutput);

        if (!_tapes.Remove(microBatch, out var entry)) throw new InvalidOperationException($"micro-batch {microBatch} has no forward tape on stage [{Shard.FirstLayer}, {Shard.EndLayer})");
        var (shape, tapes) = entry;
        if (microBatch <= _lastBackward) throw new InvalidOperationException($"backward of micro-batch {microBatch} after {_lastBackward}: order must ascend");
        _lastBackward = microBatch;
        for (var i = 0; i < _grads.Length; i++) _grads[i] ??= new LayerGradients(Shard.Layers[i]);
        if (dOutput.Length != shape.Batch * shape.Positions * Shard.Hidden)
            throw new InvalidOperationException($"stage [{Shard.FirstLayer}, {Shard.EndLayer}) got a gradient of {dOutput.Length} floats for micro-batch {microBatch}, " +
                                                "not one micro-batch's: the stage after it runs the layer-bounded schedule (it defers gradients and sends them all with the last micro-batch), so this one must too");
        Shard.BackwardLayers(dOutput, shape.Batch, shape.Positions, tapes, _grads, Scratch(shape.Batch, shape.Positions));
        Free(shape, tapes);
        return Shard.HasEmbedding ? null : dOutput;
    }

    /// <summary>
    /// Unit scores. For a gradient criterion they come from the last pass; computing them releases that pass's
    /// gradients and tapes (asking again returns the same scores), so compaction runs without them.
    /// </summary>
    public LayerScores[] Scores(PruningMethod method, int seed)
    {
        if (!method.NeedsGradients()) return Shard.Layers.Select(layer => UnitSaliency.Score(layer, null, method, seed)).ToArray();
        if (_gradientScores is null)
        {
            if (_bounded is not null)
                _gradientScores = _bounded.Scores ?? throw new InvalidOperationException(
                    $"stage [{Shard.FirstLayer}, {Shard.EndLayer}): the layer-bounded pass has not seen its last micro-batch's gradient yet");
            else
            {
                if (_grads.Any(g => g is null)) throw new InvalidOperationException($"method {method.Name()} needs a calibration pass with gradients first");
                _gradientScores = Shard.Layers.Select((layer, i) => UnitSaliency.Score(layer, _grads[i], method, seed)).ToArray();
            }
            ReleasePass();
        }
        return _gradientScores;
    }

    /// <summary>Drops gradients, tapes and kept activations, and has the GC return their pages before compaction.</summary>
    private void ReleasePass()
    {
        SampleHeap();
        Log.Debug("Stage [{First}, {End}) scored: releasing the pass; RSS {Rss:N0}, peak {Peak:N0}, managed heap {Managed:N0} bytes",
            Shard.FirstLayer, Shard.EndLayer, ProcessMemory.ResidentBytes(), ProcessMemory.PeakResidentBytes(), GC.GetTotalMemory(false));
        Array.Fill(_grads, null);
        _tapes.Clear();
        _freeTapes.Clear();
        _scratch.Clear();
        _bounded = null;
        // Arrays of floats cost the collector nothing to mark; a blocking collection here keeps the peak at the live set.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        Log.Debug("Stage [{First}, {End}) released: RSS {Rss:N0}, managed heap {Managed:N0} bytes", Shard.FirstLayer, Shard.EndLayer,
            ProcessMemory.ResidentBytes(), GC.GetTotalMemory(false));
    }

    /// <summary>The bytes the memory model counts for this stage, this pass's shape and schedule.</summary>
    private void Plan(int batch, int positions, int totalSequences, ObjectiveKind objective)
    {
        var extent = new StageExtent(Shard.FirstLayer, Shard.EndLayer, Shard.HasEmbedding, Shard.HasHead, MatrixElementBytes());
        var need = StageMemoryModel.Need(Shard.Config, extent, new PassShape(batch, positions, totalSequences, InFlight, objective));
        _plannedBytes = need.BytesFor(_passSchedule);
    }

    /// <summary>Bytes per element of the shard's matrices (the widest when they differ).</summary>
    private int MatrixElementBytes() =>
        Shard.Tensors().Where(t => t.Data.Rows > 1).Select(t => t.Data.DType.ElementSize()).DefaultIfEmpty(4).Max();

    private void SampleHeap() => _peakManaged = Math.Max(_peakManaged, GC.GetTotalMemory(false));

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
        var shape = new Shape(batch, positions);
        if (!_scratch.TryGetValue(shape, out var scratch))
        {
            // A pass uses one full shape and perhaps a smaller last one; a new full shape (the next pass) starts afresh.
            if (_tapes.Count == 0 && _scratch.Count >= 2) { _scratch.Clear(); _freeTapes.Clear(); }
            _scratch[shape] = scratch = Shard.CreateScratch(batch, positions);
        }
        return scratch;
    }

    private LayerTape[] RentTapes(int batch, int positions)
    {
        Scratch(batch, positions);
        return _freeTapes.TryGetValue(new Shape(batch, positions), out var free) && free.Count > 0 ? free.Pop() : Shard.CreateTapes(batch, positions);
    }

    private void Free(Shape shape, LayerTape[] tapes)
    {
        if (!_freeTapes.TryGetValue(shape, out var free)) _freeTapes[shape] = free = new Stack<LayerTape[]>();
        free.Push(tapes);
    }

    private readonly record struct Shape(int Batch, int Positions);
}

/// <summary>Which part of the model a stage holds.</summary>
public sealed record StageDescriptor(int FirstLayer, int EndLayer, bool HasEmbedding, bool HasHead);

/// <summary>
/// A forward step's output: hidden states (or, at the head in a gradient pass, dx) and the objective's share; at the
/// head of an evaluation, each sequence's summed NLL and (masked evaluation) summed KL(dense || variant).
/// </summary>
public sealed record StepResult(float[] Tensor, double Objective, double[]? SequenceNll = null, double[]? SequenceKl = null);
