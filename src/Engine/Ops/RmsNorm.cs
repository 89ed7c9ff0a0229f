using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>RMSNorm: y[N,D] = x * rstd * w, rstd[N] = 1 / sqrt(mean(x^2) + eps).</summary>
public static class RmsNorm
{
    public static void Forward(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int d, float eps)
    {
        if (y.Length != n * d || x.Length != n * d) throw new ArgumentException($"x and y need N*D = {n}*{d} elements");
        if (w.Length != d) throw new ArgumentException($"weight has {w.Length} elements, expected D = {d}", nameof(w));
        if (!rstd.IsEmpty && rstd.Length != n) throw new ArgumentException($"rstd needs N = {n} elements", nameof(rstd));
        for (var r = 0; r < n; r++)
        {
            var row = x.Slice(r * d, d);
            var s = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / d + eps);
            if (!rstd.IsEmpty) rstd[r] = s;
            ApplyRow(y.Slice(r * d, d), row, w, s);
        }
    }

    /// <summary>
    /// y[N,D] = x * rstd * w with rstd from an earlier <see cref="Forward"/>: the same operations, so the same bits.
    /// Backward recomputes the normed input this way instead of keeping it on the tape.
    /// </summary>
    public static void Apply(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> rstd, int n, int d)
    {
        if (y.Length != n * d || x.Length != n * d) throw new ArgumentException($"x and y need N*D = {n}*{d} elements");
        if (w.Length != d) throw new ArgumentException($"weight has {w.Length} elements, expected D = {d}", nameof(w));
        if (rstd.Length != n) throw new ArgumentException($"rstd needs N = {n} elements", nameof(rstd));
        for (var r = 0; r < n; r++) ApplyRow(y.Slice(r * d, d), x.Slice(r * d, d), w, rstd[r]);
    }

    private static void ApplyRow(Span<float> outRow, ReadOnlySpan<float> row, ReadOnlySpan<float> w, float s)
    {
        TensorPrimitives.Multiply(row, s, outRow);
        TensorPrimitives.Multiply(outRow, w, outRow);
    }

    /// <summary>dx[N,D] is accumulated (it joins the residual gradient); dw[D] accumulates.</summary>
    public static void Backward(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        ReadOnlySpan<float> w, ReadOnlySpan<float> rstd, int n, int d)
    {
        if (dx.Length != n * d || dy.Length != n * d || x.Length != n * d) throw new ArgumentException($"dx, dy and x need N*D = {n}*{d} elements");
        if (w.Length != d || (!dw.IsEmpty && dw.Length != d)) throw new ArgumentException($"w and dw need D = {d} elements");
        if (rstd.Length != n) throw new ArgumentException($"rstd needs N = {n} elements", nameof(rstd));
        Span<float> dyw = d <= 4096 ? stackalloc float[d] : new float[d];
        for (var r = 0; r < n; r++)
        {
            var xr = x.Slice(r * d, d);
            var dyr = dy.Slice(r * d, d);
            var s = rstd[r];
            // y = x*s*w with s = (mean(x^2)+eps)^-1/2, so dx = s*(dy*w) - x * s^3/D * sum(dy*w*x).
            TensorPrimitives.Multiply(dyr, w, dyw);
            var dot = TensorPrimitives.Dot(dyw, xr);
            var dxr = dx.Slice(r * d, d);
            var k = -dot * s * s * s / d;
            for (var i = 0; i < d; i++) dxr[i] += s * dyw[i] + k * xr[i];
            if (!dw.IsEmpty)
                for (var i = 0; i < d; i++) dw[i] += dyr[i] * xr[i] * s;
        }
    }
}
