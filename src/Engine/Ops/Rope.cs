using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Ops;

/// <summary>
/// Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i pairs with i + Dh/2.
/// Tables cos/sin are [T, Dh/2]; x is [B, T, heads*Dh] and is rotated in place.
/// </summary>
public sealed class Rope
{
    public int HeadDim { get; }
    public int MaxPositions { get; }
    private readonly float[] _cos; // [T, Dh/2]
    private readonly float[] _sin; // [T, Dh/2]

    public Rope(LlamaConfig config, int maxPositions)
    {
        HeadDim = config.HeadDim;
        MaxPositions = maxPositions;
        var half = HeadDim / 2;
        var invFreq = InverseFrequencies(HeadDim, config.RopeTheta, config.RopeScaling);
        _cos = new float[maxPositions * half];
        _sin = new float[maxPositions * half];
        for (var t = 0; t < maxPositions; t++)
            for (var i = 0; i < half; i++)
            {
                var angle = t * invFreq[i];
                _cos[t * half + i] = (float)Math.Cos(angle);
                _sin[t * half + i] = (float)Math.Sin(angle);
            }
    }

    /// <summary>inv_freq[i] = theta^(-2i/Dh), adjusted by Llama-3.1's frequency-dependent scaling when given.</summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var half = headDim / 2;
        var inv = new double[half];
        for (var i = 0; i < half; i++) inv[i] = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
        if (scaling is null) return inv;
        double oldContext = scaling.OriginalMaxPositionEmbeddings;
        var lowFreqWavelen = oldContext / scaling.LowFreqFactor;
        var highFreqWavelen = oldContext / scaling.HighFreqFactor;
        for (var i = 0; i < half; i++)
        {
            var wavelen = 2 * Math.PI / inv[i];
            if (wavelen > lowFreqWavelen)
                inv[i] /= scaling.Factor;
            else if (wavelen >= highFreqWavelen)
            {
                var smooth = (oldContext / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                inv[i] = (1 - smooth) * inv[i] / scaling.Factor + smooth * inv[i];
            }
        }
        return inv;
    }

    public void Forward(Span<float> x, int batch, int positions, int heads) => Rotate(x, batch, positions, heads, sign: 1f);

    /// <summary>The rotation is orthogonal, so the gradient is the inverse rotation of dy, in place.</summary>
    public void Backward(Span<float> dx, int batch, int positions, int heads) => Rotate(dx, batch, positions, heads, sign: -1f);

    /// <summary>Rotates rows x[rows, heads*Dh] that all sit at one position (incremental decoding).</summary>
    public void ForwardAt(Span<float> x, int rows, int heads, int position)
    {
        if (position >= MaxPositions) throw new ArgumentException($"position {position} exceeds the rotary table of {MaxPositions}");
        var dh = HeadDim;
        var half = dh / 2;
        if (x.Length != rows * heads * dh) throw new ArgumentException($"x needs rows*H*Dh = {rows}*{heads}*{dh} elements");
        var cos = _cos.AsSpan(position * half, half);
        var sin = _sin.AsSpan(position * half, half);
        for (var r = 0; r < rows * heads; r++)
        {
            var head = x.Slice(r * dh, dh);
            for (var i = 0; i < half; i++)
            {
                var x1 = head[i];
                var x2 = head[i + half];
                head[i] = x1 * cos[i] - x2 * sin[i];
                head[i + half] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }

    private void Rotate(Span<float> x, int batch, int positions, int heads, float sign)
    {
        var dh = HeadDim;
        var half = dh / 2;
        if (positions > MaxPositions) throw new ArgumentException($"sequence of {positions} positions exceeds the rotary table of {MaxPositions}");
        if (x.Length != batch * positions * heads * dh) throw new ArgumentException($"x needs B*T*H*Dh = {batch}*{positions}*{heads}*{dh} elements");
        for (var b = 0; b < batch; b++)
            for (var t = 0; t < positions; t++)
            {
                var cos = _cos.AsSpan(t * half, half);
                var sin = _sin.AsSpan(t * half, half);
                var row = x.Slice((b * positions + t) * heads * dh, heads * dh);
                for (var h = 0; h < heads; h++)
                {
                    var head = row.Slice(h * dh, dh);
                    for (var i = 0; i < half; i++)
                    {
                        var x1 = head[i];
                        var x2 = head[i + half];
                        var s = sign * sin[i];
                        head[i] = x1 * cos[i] - x2 * s;
                        head[i + half] = x2 * cos[i] + x1 * s;
                    }
                }
            }
    }
}
