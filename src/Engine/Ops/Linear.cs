using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>
/// Hugging Face Linear: y[N,O] = x[N,I] W[O,I]^T (+ b[O]). W is a <see cref="WeightMatrix"/> at checkpoint precision
/// (widened inside the GEMM) or, in the span overloads, fp32 values.
/// </summary>
public static class Linear
{
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, WeightMatrix w, ReadOnlySpan<float> bias,
        int n, int inputs, int outputs)
    {
        CheckLengths(y.Length, x.Length, w.Length, n, inputs, outputs);
        CheckBias(bias, outputs);
        Gemm.SgemmWeight(false, true, n, outputs, inputs, 1f, x, inputs, w, 0f, y, outputs);
        AddBias(y, bias, n, outputs);
    }

    /// <summary>As the span overload: dx assigned (or accumulated), dW and db accumulate; W only enters dx.</summary>
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, WeightMatrix w,
        int n, int inputs, int outputs, bool accumulateDx = false)
    {
        CheckLengths(dy.Length, x.Length, w.Length, n, inputs, outputs);
        if (!dx.IsEmpty)
        {
            if (dx.Length != n * inputs) throw new ArgumentException($"dx has {dx.Length} elements, expected {n * inputs}", nameof(dx));
            Gemm.SgemmWeight(false, false, n, inputs, outputs, 1f, dy, outputs, w, accumulateDx ? 1f : 0f, dx, inputs);
        }
        WeightAndBiasGradients(dw, dbias, dy, x, n, inputs, outputs);
    }

    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        int n, int inputs, int outputs)
    {
        CheckLengths(y.Length, x.Length, w.Length, n, inputs, outputs);
        CheckBias(bias, outputs);
        Gemm.Sgemm(false, true, n, outputs, inputs, 1f, x, inputs, w, inputs, 0f, y, outputs);
        AddBias(y, bias, n, outputs);
    }

    /// <summary>
    /// dx[N,I] is assigned (or accumulated when <paramref name="accumulateDx"/>), dW[O,I] and db[O] accumulate.
    /// Pass an empty dx to skip it (the first op of a shard), an empty dW to skip the weight gradient.
    /// </summary>
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        int n, int inputs, int outputs, bool accumulateDx = false)
    {
        CheckLengths(dy.Length, x.Length, w.Length, n, inputs, outputs);
        if (!dx.IsEmpty)
        {
            if (dx.Length != n * inputs) throw new ArgumentException($"dx has {dx.Length} elements, expected {n * inputs}", nameof(dx));
            Gemm.Sgemm(false, false, n, inputs, outputs, 1f, dy, outputs, w, inputs, accumulateDx ? 1f : 0f, dx, inputs);
        }
        WeightAndBiasGradients(dw, dbias, dy, x, n, inputs, outputs);
    }

    private static void WeightAndBiasGradients(Span<float> dw, Span<float> dbias, ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        int n, int inputs, int outputs)
    {
        if (!dw.IsEmpty)
        {
            if (dw.Length != outputs * inputs) throw new ArgumentException($"dW has {dw.Length} elements, expected {outputs * inputs}", nameof(dw));
            Gemm.Sgemm(true, false, outputs, inputs, n, 1f, dy, outputs, x, inputs, 1f, dw, inputs);
        }
        if (!dbias.IsEmpty)
        {
            if (dbias.Length != outputs) throw new ArgumentException($"db has {dbias.Length} elements, expected {outputs}", nameof(dbias));
            for (var r = 0; r < n; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(dbias, dy.Slice(r * outputs, outputs), dbias);
        }
    }

    private static void CheckBias(ReadOnlySpan<float> bias, int outputs)
    {
        if (!bias.IsEmpty && bias.Length != outputs)
            throw new ArgumentException($"bias has {bias.Length} elements, expected {outputs}", nameof(bias));
    }

    private static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int n, int outputs)
    {
        if (!bias.IsEmpty)
            for (var r = 0; r < n; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(y.Slice(r * outputs, outputs), bias, y.Slice(r * outputs, outputs));
    }

    private static void CheckLengths(int yLength, int xLength, long wLength, int n, int inputs, int outputs)
    {
        if (yLength != n * outputs) throw new ArgumentException($"output has {yLength} elements, expected N*O = {n}*{outputs}");
        if (xLength != n * inputs) throw new ArgumentException($"input has {xLength} elements, expected N*I = {n}*{inputs}");
        if (wLength != outputs * inputs) throw new ArgumentException($"weight has {wLength} elements, expected O*I = {outputs}*{inputs}");
    }
}
