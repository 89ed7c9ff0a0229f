using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>Picks the next token from logits[V]: arg-max at temperature 0, else a seeded draw from softmax(logits / T).</summary>
public sealed class Sampler
{
    private readonly float _temperature;
    private readonly Random _rng;
    private readonly float[] _probs;

    public Sampler(int vocab, float temperature, int seed)
    {
        if (temperature < 0 || float.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), $"--temperature must be >= 0 (got {temperature})");
        _temperature = temperature;
        _rng = new Random(seed);
        _probs = new float[vocab];
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (_temperature == 0) return TensorPrimitives.IndexOfMax(logits);
        TensorPrimitives.Divide(logits, _temperature, _probs);
        TensorPrimitives.SoftMax(_probs, _probs);
        var u = _rng.NextDouble();
        double cumulative = 0;
        for (var i = 0; i < _probs.Length; i++)
        {
            cumulative += _probs[i];
            if (u < cumulative) return i;
        }
        return _probs.Length - 1;
    }
}
