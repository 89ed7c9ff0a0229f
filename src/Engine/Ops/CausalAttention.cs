using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>
/// Grouped-query causal self-attention on rotated q/k: out[B,T,H*Dh] = softmax(q k^T / sqrt(Dh) + causal) v.
/// Query head h reads KV head h / G (Hugging Face repeat_kv layout). Probabilities att[B,H,T,T] are kept for
/// backward; entries above the diagonal stay zero.
/// </summary>
public static class CausalAttention
{
    public static unsafe void Forward(Span<float> output, Span<float> att,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int batch, int positions, int heads, int kvHeads, int headDim)
    {
        Check(output.Length, att.Length, q.Length, k.Length, v.Length, batch, positions, heads, kvHeads, headDim);
        fixed (float* po = output, pa = att, pq = q, pk = k, pv = v)
        {
            var (o, a, qq, kk, vv) = ((nint)po, (nint)pa, (nint)pq, (nint)pk, (nint)pv);
            Parallel.For(0, batch * heads, bh =>
                ForwardHead((float*)o, (float*)a, (float*)qq, (float*)kk, (float*)vv, bh / heads, bh % heads,
                    positions, heads, kvHeads, headDim));
        }
    }

    private static unsafe void ForwardHead(float* output, float* att, float* q, float* k, float* v, int b, int h,
        int positions, int heads, int kvHeads, int headDim)
    {
        var g = h / (heads / kvHeads);
        var qStride = heads * headDim;
        var kvStride = kvHeads * headDim;
        var scale = 1f / MathF.Sqrt(headDim);
        var probs = att + ((long)b * heads + h) * positions * positions;
        for (var t = 0; t < positions; t++)
        {
            var qRow = new ReadOnlySpan<float>(q + ((long)b * positions + t) * qStride + h * headDim, headDim);
            var p = new Span<float>(probs + (long)t * positions, positions);
            for (var s = 0; s <= t; s++)
                p[s] = scale * TensorPrimitives.Dot(qRow, new ReadOnlySpan<float>(k + ((long)b * positions + s) * kvStride + g * headDim, headDim));
            var row = p[..(t + 1)];
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
            p[(t + 1)..].Clear();
            var outRow = new Span<float>(output + ((long)b * positions + t) * qStride + h * headDim, headDim);
            outRow.Clear();
            for (var s = 0; s <= t; s++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + ((long)b * positions + s) * kvStride + g * headDim, headDim), p[s], outRow, outRow);
        }
    }

    /// <summary>dq[B,T,H*Dh], dk and dv [B,T,Hkv*Dh] are assigned.</summary>
    public static unsafe void Backward(Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dOutput,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> att,
        int batch, int positions, int heads, int kvHeads, int headDim)
    {
        Check(dOutput.Length, att.Length, q.Length, k.Length, v.Length, batch, positions, heads, kvHeads, headDim);
        if (dq.Length != q.Length || dk.Length != k.Length || dv.Length != v.Length)
            throw new ArgumentException("dq, dk and dv must match the shapes of q, k and v");
        fixed (float* pdq = dq, pdk = dk, pdv = dv, pdo = dOutput, pq = q, pk = k, pv = v, pa = att)
        {
            var ptrs = ((nint)pdq, (nint)pdk, (nint)pdv, (nint)pdo, (nint)pq, (nint)pk, (nint)pv, (nint)pa);
            // One task per (sequence, KV group): dk and dv of a group collect from its G query heads without races.
            Parallel.For(0, batch * kvHeads, bg =>
                BackwardGroup((float*)ptrs.Item1, (float*)ptrs.Item2, (float*)ptrs.Item3, (float*)ptrs.Item4,
                    (float*)ptrs.Item5, (float*)ptrs.Item6, (float*)ptrs.Item7, (float*)ptrs.Item8,
                    bg / kvHeads, bg % kvHeads, positions, heads, kvHeads, headDim));
        }
    }

    private static unsafe void BackwardGroup(float* dq, float* dk, float* dv, float* dOutput, float* q, float* k, float* v,
        float* att, int b, int g, int positions, int heads, int kvHeads, int headDim)
    {
        var groupSize = heads / kvHeads;
        var qStride = heads * headDim;
        var kvStride = kvHeads * headDim;
        var scale = 1f / MathF.Sqrt(headDim);
        Span<float> KvRow(float* basePtr, int s) => new(basePtr + ((long)b * positions + s) * kvStride + g * headDim, headDim);
        for (var s = 0; s < positions; s++)
        {
            KvRow(dk, s).Clear();
            KvRow(dv, s).Clear();
        }
        var dScores = new float[positions];
        for (var h = g * groupSize; h < (g + 1) * groupSize; h++)
        {
            var probs = att + ((long)b * heads + h) * positions * positions;
            for (var t = 0; t < positions; t++)
            {
                long rowOffset = ((long)b * positions + t) * qStride + h * headDim;
                var dOut = new ReadOnlySpan<float>(dOutput + rowOffset, headDim);
                var qRow = new ReadOnlySpan<float>(q + rowOffset, headDim);
                var p = new ReadOnlySpan<float>(probs + (long)t * positions, t + 1);
                var dp = dScores.AsSpan(0, t + 1);
                for (var s = 0; s <= t; s++)
                {
                    dp[s] = TensorPrimitives.Dot(dOut, KvRow(v, s));
                    var dvRow = KvRow(dv, s);
                    TensorPrimitives.MultiplyAdd(dOut, p[s], dvRow, dvRow);
                }
                // Softmax backward: dS = P * (dP - sum(P * dP)), then the 1/sqrt(Dh) scale of the scores.
                var centre = TensorPrimitives.Dot(p, dp);
                TensorPrimitives.Subtract(dp, centre, dp);
                TensorPrimitives.Multiply(dp, p, dp);
                TensorPrimitives.Multiply(dp, scale, dp);
                var dqRow = new Span<float>(dq + rowOffset, headDim);
                dqRow.Clear();
                for (var s = 0; s <= t; s++)
                {
                    TensorPrimitives.MultiplyAdd(KvRow(k, s), dp[s], dqRow, dqRow);
                    var dkRow = KvRow(dk, s);
                    TensorPrimitives.MultiplyAdd(qRow, dp[s], dkRow, dkRow);
                }
            }
        }
    }

    private static void Check(int outputLength, int attLength, int qLength, int kLength, int vLength,
        int batch, int positions, int heads, int kvHeads, int headDim)
    {
        if (kvHeads <= 0 || heads % kvHeads != 0) throw new ArgumentException($"heads {heads} must be a multiple of KV heads {kvHeads}");
        var n = batch * positions;
        if (qLength != n * heads * headDim || outputLength != qLength) throw new ArgumentException($"q and output need B*T*H*Dh = {n}*{heads}*{headDim} elements");
        if (kLength != n * kvHeads * headDim || vLength != kLength) throw new ArgumentException($"k and v need B*T*Hkv*Dh = {n}*{kvHeads}*{headDim} elements");
        if (attLength != batch * heads * positions * positions) throw new ArgumentException($"att needs B*H*T*T = {batch}*{heads}*{positions}*{positions} elements");
    }
}
