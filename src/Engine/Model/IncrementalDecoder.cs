using System.Numerics.Tensors;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Engine.Model;

/// <summary>
/// Token-by-token decoding of B sequences in lock-step with a key/value cache, for generation. For the whole model,
/// each <see cref="Step"/> consumes one token per sequence at the next position and yields logits[B, V]; a shard
/// (a cluster stage) takes tokens or the previous stage's hidden states x[B, D] and yields hidden states or logits
/// (<see cref="StepShard"/>), with its own layers' cache, so that stages decode together what one model would.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly LlamaShard _model;
    private readonly int _batch;
    private readonly float[][] _keys;   // per layer [B, maxT, Hkv*Dh]
    private readonly float[][] _values; // per layer [B, maxT, Hkv*Dh]
    private readonly Rope _rope;
    private readonly float[] _x, _norm, _q, _k, _v, _attn, _branch, _gate, _up, _scores;

    public int MaxPositions { get; }
    public int Position { get; private set; }

    public IncrementalDecoder(LlamaShard model, int batch, int maxPositions)
    {
        _model = model;
        _batch = batch;
        MaxPositions = maxPositions;
        var dh = model.Config.HeadDim;
        _keys = model.Layers.Select(l => new float[batch * maxPositions * l.KvHeads * dh]).ToArray();
        _values = model.Layers.Select(l => new float[batch * maxPositions * l.KvHeads * dh]).ToArray();
        _rope = model.RopeFor(maxPositions);
        int d = model.Hidden, maxQ = model.Layers.Max(l => l.Heads) * dh, maxKv = model.Layers.Max(l => l.KvHeads) * dh, maxF = model.Layers.Max(l => l.Ffn);
        _x = new float[batch * d];
        _norm = new float[batch * d];
        _q = new float[batch * maxQ];
        _k = new float[batch * maxKv];
        _v = new float[batch * maxKv];
        _attn = new float[batch * maxQ];
        _branch = new float[batch * d];
        _gate = new float[batch * maxF];
        _up = new float[batch * maxF];
        _scores = new float[maxPositions];
    }

    /// <summary>Length of a shard step's output: logits[B, V] at the head, hidden states[B, D] elsewhere.</summary>
    public int OutputLength => _batch * (_model.HasHead ? _model.Vocab : _model.Hidden);

    /// <summary>
    /// One position through this shard: tokens[B] at the first stage, else hidden[B, D] from the stage before;
    /// writes logits[B, V] at the head, else hidden[B, D] for the stage after.
    /// </summary>
    public void StepShard(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden, Span<float> output)
    {
        if (output.Length != OutputLength) throw new ArgumentException($"need an output of {OutputLength} floats", nameof(output));
        var x = _x.AsSpan();
        if (_model.HasEmbedding)
        {
            if (tokens.Length != _batch) throw new ArgumentException($"need {_batch} tokens, one per sequence", nameof(tokens));
            _model.Embed(x, tokens);
        }
        else
        {
            if (hidden.Length != x.Length) throw new ArgumentException($"need hidden states of B*D = {_batch}*{_model.Hidden}", nameof(hidden));
            hidden.CopyTo(x);
        }
        Advance(output);
    }

    /// <summary>Feeds tokens[B] at the current position and writes logits[B, V] (the whole model).</summary>
    public void Step(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (!_model.HasEmbedding || !_model.HasHead) throw new InvalidOperationException("Step needs the whole model; a stage uses StepShard");
        if (tokens.Length != _batch) throw new ArgumentException($"need {_batch} tokens, one per sequence", nameof(tokens));
        _model.Embed(_x, tokens);
        Advance(logits);
    }

    /// <summary>Runs this shard's layers on x (already in place) at the current position, then the head if it has one.</summary>
    private void Advance(Span<float> output)
    {
        if (Position >= MaxPositions) throw new InvalidOperationException($"the cache holds {MaxPositions} positions");
        int b = _batch, d = _model.Hidden, dh = _model.Config.HeadDim, p = Position;
        var eps = _model.Config.RmsNormEps;
        var x = _x.AsSpan();
        for (var li = 0; li < _model.Layers.Count; li++)
        {
            var w = _model.Layers[li];
            int qw = w.Heads * dh, kvw = w.KvHeads * dh, f = w.Ffn, group = w.Heads / w.KvHeads;
            var norm = _norm.AsSpan(0, b * d);
            var q = _q.AsSpan(0, b * qw);
            var k = _k.AsSpan(0, b * kvw);
            var v = _v.AsSpan(0, b * kvw);
            RmsNorm.Forward(norm, default, x, w.InputLayernorm, b, d, eps);
            Linear.Forward(q, norm, w.QProj, w.QBias, b, d, qw);
            Linear.Forward(k, norm, w.KProj, w.KBias, b, d, kvw);
            Linear.Forward(v, norm, w.VProj, w.VBias, b, d, kvw);
            _rope.ForwardAt(q, b, w.Heads, p);
            _rope.ForwardAt(k, b, w.KvHeads, p);
            var keys = _keys[li];
            var values = _values[li];
            for (var s = 0; s < b; s++)
            {
                k.Slice(s * kvw, kvw).CopyTo(keys.AsSpan((s * MaxPositions + p) * kvw, kvw));
                v.Slice(s * kvw, kvw).CopyTo(values.AsSpan((s * MaxPositions + p) * kvw, kvw));
            }
            var attn = _attn.AsSpan(0, b * qw);
            var scale = 1f / MathF.Sqrt(dh);
            for (var s = 0; s < b; s++)
                for (var h = 0; h < w.Heads; h++)
                {
                    var g = h / group;
                    var qh = q.Slice(s * qw + h * dh, dh);
                    var scores = _scores.AsSpan(0, p + 1);
                    for (var t = 0; t <= p; t++)
                        scores[t] = scale * TensorPrimitives.Dot(qh, keys.AsSpan((s * MaxPositions + t) * kvw + g * dh, dh));
                    TensorPrimitives.SoftMax(scores, scores);
                    var o = attn.Slice(s * qw + h * dh, dh);
                    o.Clear();
                    for (var t = 0; t <= p; t++)
                        TensorPrimitives.MultiplyAdd(values.AsSpan((s * MaxPositions + t) * kvw + g * dh, dh), scores[t], o, o);
                }
            var branch = _branch.AsSpan(0, b * d);
            Linear.Forward(branch, attn, w.OProj, w.OBias, b, qw, d);
            TensorPrimitives.Add(x, branch, x);
            RmsNorm.Forward(norm, default, x, w.PostAttentionLayernorm, b, d, eps);
            var gate = _gate.AsSpan(0, b * f);
            var up = _up.AsSpan(0, b * f);
            Linear.Forward(gate, norm, w.GateProj, default, b, d, f);
            Linear.Forward(up, norm, w.UpProj, default, b, d, f);
            SwiGlu.Forward(gate, gate, up);
            Linear.Forward(branch, gate, w.DownProj, default, b, f, d);
            TensorPrimitives.Add(x, branch, x);
        }
        if (_model.HasHead)
        {
            var normed = _norm.AsSpan(0, b * d);
            _model.FinalNormForward(normed, default, x, b);
            _model.Logits(output, normed, b);
        }
        else x.CopyTo(output);
        Position++;
    }
}
