using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>SwiGLU gating: h[N,F] = silu(gate) * up, silu(g) = g * sigmoid(g). Vectorized in chunks; h may alias gate.</summary>
public static class SwiGlu
{
    private const int Chunk = 512;

    public static void Forward(Span<float> h, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (h.Length != gate.Length || up.Length != gate.Length) throw new ArgumentException("h, gate and up must have equal lengths");
        Span<float> sig = stackalloc float[Chunk];
        for (var start = 0; start < h.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, h.Length - start);
            var g = gate.Slice(start, n);
            var s = sig[..n];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(s, g, s);
            TensorPrimitives.Multiply(s, up.Slice(start, n), h.Slice(start, n));
        }
    }

    /// <summary>dgate and dup [N,F] are assigned: dup = dh silu(g); dgate = dh up sig(g) (1 + g (1 - sig(g))).</summary>
    public static void Backward(Span<float> dgate, Span<float> dup, ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (dgate.Length != gate.Length || dup.Length != gate.Length || dh.Length != gate.Length || up.Length != gate.Length)
            throw new ArgumentException("dgate, dup, dh, gate and up must have equal lengths");
        Span<float> sig = stackalloc float[Chunk];
        Span<float> tmp = stackalloc float[Chunk];
        for (var start = 0; start < gate.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, gate.Length - start);
            var g = gate.Slice(start, n);
            var d = dh.Slice(start, n);
            var s = sig[..n];
            var t = tmp[..n];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(s, g, t);                       // silu(g)
            TensorPrimitives.Multiply(d, t, dup.Slice(start, n));
            TensorPrimitives.Subtract(g, t, t);                       // g - g sig = g (1 - sig)
            TensorPrimitives.Add(t, 1f, t);                           // 1 + g (1 - sig)
            TensorPrimitives.Multiply(t, s, t);
            TensorPrimitives.Multiply(t, up.Slice(start, n), t);
            TensorPrimitives.Multiply(t, d, dgate.Slice(start, n));
        }
    }
}
