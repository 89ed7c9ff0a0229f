namespace NirvanaCluster.Engine.Ops;

/// <summary>SwiGLU gating: h[N,F] = silu(gate) * up, silu(g) = g * sigmoid(g).</summary>
public static class SwiGlu
{
    public static void Forward(Span<float> h, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (h.Length != gate.Length || up.Length != gate.Length) throw new ArgumentException("h, gate and up must have equal lengths");
        for (var i = 0; i < h.Length; i++)
        {
            var g = gate[i];
            h[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>dgate and dup [N,F] are assigned.</summary>
    public static void Backward(Span<float> dgate, Span<float> dup, ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (dgate.Length != gate.Length || dup.Length != gate.Length || dh.Length != gate.Length || up.Length != gate.Length)
            throw new ArgumentException("dgate, dup, dh, gate and up must have equal lengths");
        for (var i = 0; i < gate.Length; i++)
        {
            var g = gate[i];
            var sig = 1f / (1f + MathF.Exp(-g));
            var silu = g * sig;
            dup[i] = dh[i] * silu;
            dgate[i] = dh[i] * up[i] * sig * (1f + g * (1f - sig));
        }
    }
}
