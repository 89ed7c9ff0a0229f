using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// One calibration pass of a stage under <see cref="StageSchedule.LayerBounded"/>: at most one layer's fp32 gradient
/// exists at a time.
///
/// Forward keeps each layer's input x for every micro-batch (B*T*D floats per layer boundary) and no tapes; the head
/// also computes the objective and its gradient at the stage output. Once the gradient at the output is known for
/// every micro-batch (the head: after its last forward; a later stage's: when the last one arrives), the stage goes
/// down its layers one at a time: for each micro-batch in order it recomputes that layer's forward from the kept
/// input (with a tape), runs its backward (turning the micro-batch's gradient into the gradient at the layer's
/// input) and accumulates dW; then it reduces dW to unit scores and drops it and the layer's inputs.
///
/// Each layer's dW receives the same micro-batch contributions in the same order as under the all-layers schedule,
/// from bitwise the same recomputed activations, so the scores are bitwise the same.
///
/// Gradients for the previous stage exist only after the sweep, so the stage answers every earlier micro-batch with
/// an empty (deferred) gradient and the last one with the gradients of all micro-batches concatenated in order. A
/// stage before a layer-bounded one therefore runs layer-bounded too: it accepts per-micro-batch gradients, deferred
/// ones, or the concatenation.
/// </summary>
internal sealed class LayerBoundedPass(LlamaShard shard)
{
    private readonly List<(int Batch, int Positions)> _shapes = [];
    private readonly List<float[]?>[] _inputs = shard.Layers.Select(_ => new List<float[]?>()).ToArray(); // [layer][micro-batch] x[B,T,D]
    private float[]? _gradients;       // [N*T, D]: the gradient at the stage output, micro-batches in order
    private bool[] _received = [];
    private int _sequences, _totalSequences = -1;

    /// <summary>Unit scores of every layer (gradient criteria), once the sweep has run.</summary>
    public LayerScores[]? Scores { get; private set; }

    /// <summary>Forward of micro-batch <paramref name="microBatch"/> (ascending from 0) on x, its embedded or received input.</summary>
    public StepResult Forward(int microBatch, float[] x, int[] tokens, int batch, int positions, ObjectiveKind objective, int totalSequences,
        LayerTape scratch)
    {
        if (Scores is not null) throw new InvalidOperationException("the layer-bounded pass is complete; begin a new pass");
        if (microBatch != _shapes.Count) throw new InvalidOperationException($"layer-bounded forward of micro-batch {microBatch} after {_shapes.Count - 1}: micro-batches must arrive in order");
        if (_totalSequences < 0) _totalSequences = totalSequences;
        else if (_totalSequences != totalSequences) throw new InvalidOperationException($"micro-batch {microBatch} says the pass has {totalSequences} sequences, earlier ones {_totalSequences}");
        if (_shapes.Count > 0 && _shapes[0].Positions != positions) throw new InvalidOperationException("all micro-batches of a pass must have the same length");
        _shapes.Add((batch, positions));
        _sequences += batch;
        if (_sequences > _totalSequences) throw new InvalidOperationException($"micro-batches carry {_sequences} sequences, the pass has {_totalSequences}");

        var rope = shard.RopeFor(positions);
        for (var i = 0; i < shard.Layers.Count; i++)
        {
            _inputs[i].Add((float[])x.Clone());
            DecoderLayer.Forward(x, shard.Layers[i], scratch, rope, shard.Config.RmsNormEps, batch, positions);
        }
        if (!shard.HasHead) return new StepResult(x, 0);

        _gradients ??= new float[(long)_totalSequences * positions * shard.Hidden];
        var value = ObjectiveKinds.Create(objective, totalSequences).ForwardBackward(shard, x, GradientOf(microBatch), tokens, batch, positions);
        if (_sequences < _totalSequences) return new StepResult([], value);
        Sweep(scratch);
        return new StepResult(shard.HasEmbedding ? [] : _gradients, value);
    }

    /// <summary>
    /// The gradient at the stage output for a micro-batch: empty (the stage after defers it), that micro-batch's,
    /// or with the last micro-batch all of them concatenated. Returns the concatenated input gradients after the
    /// sweep, empty before it (deferred), null at the first stage.
    /// </summary>
    public float[]? Backward(int microBatch, float[] dOutput)
    {
        if (microBatch < 0 || microBatch >= _shapes.Count) throw new InvalidOperationException($"backward of micro-batch {microBatch}, which had no forward on stage [{shard.FirstLayer}, {shard.EndLayer})");
        if (Scores is not null) throw new InvalidOperationException("the layer-bounded pass is complete; begin a new pass");
        var all = (long)_totalSequences * _shapes[0].Positions * shard.Hidden;
        var last = _sequences == _totalSequences && microBatch == _shapes.Count - 1;
        if (_received.Length != _shapes.Count) Array.Resize(ref _received, _shapes.Count);
        if (dOutput.Length == all && last)
        {
            _gradients = dOutput;              // every micro-batch's gradient at once (the stage after is layer-bounded)
            Array.Fill(_received, true);
        }
        else if (dOutput.Length > 0)
        {
            var slice = GradientOf(microBatch, allocate: true);
            if (dOutput.Length != slice.Length)
                throw new ArgumentException($"micro-batch {microBatch}: gradient of {dOutput.Length} floats, expected {slice.Length} (or {all} for all micro-batches)");
            dOutput.CopyTo(slice);
            _received[microBatch] = true;
        }
        if (!last) return shard.HasEmbedding ? null : [];
        if (!_received.All(r => r))
            throw new InvalidOperationException($"stage [{shard.FirstLayer}, {shard.EndLayer}): the last micro-batch's backward came before the gradients of micro-batches " +
                                                string.Join(", ", Enumerable.Range(0, _received.Length).Where(i => !_received[i])));
        Sweep(null);
        return shard.HasEmbedding ? null : _gradients;
    }

    /// <summary>Down the layers one at a time; each layer's dW lives only while that layer is processed.</summary>
    private void Sweep(LayerTape? scratch)
    {
        if (shard.Layers.Count == 0)
        {
            Scores = [];
            return;
        }
        var maxBatch = _shapes.Max(s => s.Batch);
        var positions = _shapes[0].Positions;
        scratch = scratch is not null && scratch.Batch >= maxBatch && scratch.Positions == positions ? scratch : shard.CreateScratch(maxBatch, positions);
        var tape = LayerTape.ForBackward(shard.Hidden, shard.Layers.Max(l => l.Heads), shard.Layers.Max(l => l.KvHeads), shard.Config.HeadDim,
            shard.Layers.Max(l => l.Ffn), maxBatch, positions);
        var rope = shard.RopeFor(positions);
        var x = new float[(long)maxBatch * positions * shard.Hidden];
        var scores = new LayerScores[shard.Layers.Count];
        LayerGradients? grad = null;
        for (var i = shard.Layers.Count - 1; i >= 0; i--)
        {
            var layer = shard.Layers[i];
            if (grad is null || !grad.TryReuseFor(layer))
            {
                // Layers of another size (a pruned model): drop the old accumulators before taking new ones.
                grad = null;
                if (i < shard.Layers.Count - 1) GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
                grad = new LayerGradients(layer);
            }
            for (var mb = 0; mb < _shapes.Count; mb++)
            {
                var (batch, _) = _shapes[mb];
                var input = _inputs[i][mb]!;
                var xs = x.AsSpan(0, input.Length);
                input.CopyTo(xs);
                DecoderLayer.Forward(xs, layer, tape, rope, shard.Config.RmsNormEps, batch, positions, scratch);
                DecoderLayer.Backward(GradientOf(mb), layer, tape, grad, scratch, rope, batch, positions);
                _inputs[i][mb] = null;
            }
            // Gradient criteria all reduce |dW * W| the same way; the method only matters without gradients.
            scores[i] = UnitSaliency.Score(layer, grad, PruningMethod.Nirvana, 0);
            _inputs[i].Clear();
        }
        Scores = scores;
    }

    private Span<float> GradientOf(int microBatch, bool allocate = false)
    {
        var d = shard.Hidden;
        if (_gradients is null)
        {
            if (!allocate) throw new InvalidOperationException("no gradients yet");
            _gradients = new float[(long)_totalSequences * _shapes[0].Positions * d];
        }
        long offset = 0;
        for (var mb = 0; mb < microBatch; mb++) offset += (long)_shapes[mb].Batch * _shapes[mb].Positions * d;
        var (batch, positions) = _shapes[microBatch];
        return _gradients.AsSpan((int)offset, batch * positions * d);
    }
}
