using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>
/// Picks the next token from logits[V]: arg-max at temperature 0, else a seeded draw from softmax(logits / T).
/// The softmax subtracts the maximum first, so exp never overflows: every weight lies in [0, 1] and the arg-max has
/// weight exactly 1, which is why T → 0 turns into the greedy choice instead of NaN.
/// </summary>
public sealed class Sampler
{
    private readonly float _temperature;
    private readonly Random _rng;
    private readonly float[] _weights;

    public Sampler(int vocab, float temperature, int seed)
    {
        if (!(temperature >= 0) || float.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"--temperature must be a finite number >= 0 (got {temperature})");
        _temperature = temperature;
        _rng = new Random(seed);
        _weights = new float[vocab];
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _weights.Length) throw new ArgumentException($"expected {_weights.Length} logits, got {logits.Length}", nameof(logits));
        if (_temperature == 0) return TensorPrimitives.IndexOfMax(logits);
        var max = TensorPrimitives.Max(logits);
        // (l - max) / T <= 0; dividing (not multiplying by 1/T) keeps the maximum at exactly 0 even for a tiny T.
        TensorPrimitives.Subtract(logits, max, _weights);
        TensorPrimitives.Divide(_weights, _temperature, _weights);
        TensorPrimitives.Exp(_weights, _weights);
        double total = TensorPrimitives.Sum<float>(_weights); // >= 1: the maximum contributes exp(0)
        var u = _rng.NextDouble() * total;
        double cumulative = 0;
        var last = 0;
        for (var i = 0; i < _weights.Length; i++)
        {
            if (_weights[i] == 0) continue;
            cumulative += _weights[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last; // rounding left u at the very top: the last token with any weight, never one with none
    }
}
