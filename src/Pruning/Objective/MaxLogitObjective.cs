using System.Runtime.Intrinsics;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Objective;

/// <summary>
/// NIRVANA's objective (NIRVANA.md section 1): f = mean over (b, v) of max over t of logits[b, t, v]; its gradient
/// w.r.t. the logits is 1/(B V) at the arg-max position of each (b, v). Logits exist one sequence at a time
/// ([T, V]), and the backward through lm_head is a scatter of lm_head rows rather than a dense GEMM.
/// </summary>
public sealed class MaxLogitObjective(int totalSequences) : IHeadObjective
{
    public double ForwardBackward(LlamaShard head, ReadOnlySpan<float> x, Span<float> dx, ReadOnlySpan<int> tokens, int batch, int positions)
    {
        int d = head.Hidden, vocab = head.Vocab, n = batch * positions;
        var lmHead = head.LmHead ?? throw new InvalidOperationException("the objective needs the shard holding lm_head");
        using var pool = new PooledBuffers();
        var normed = pool.Floats(n * d);
        var rstd = pool.Floats(n);
        head.FinalNormForward(normed, rstd, x, n);
        var dNormed = pool.Floats(n * d, clear: true);
        var logits = pool.Floats(positions * vocab);
        var max = pool.Floats(vocab);
        var argMax = pool.Ints(vocab);
        var scale = 1f / ((float)totalSequences * vocab);
        var headRow = pool.Floats(d);
        double total = 0;
        for (var b = 0; b < batch; b++)
        {
            head.Logits(logits, normed.Slice(b * positions * d, positions * d), positions);
            ColumnMax(logits, positions, vocab, max, argMax);
            double sum = 0;
            foreach (var m in max) sum += m;
            total += sum * scale;
            var dSeq = dNormed.Slice(b * positions * d, positions * d);
            for (var v = 0; v < vocab; v++)
            {
                var row = dSeq.Slice(argMax[v] * d, d);
                ReadOnlySpan<float> weights;
                if (lmHead.IsSingle) weights = lmHead.Single.Slice(v * d, d);
                else
                {
                    lmHead.RowsToSingle(v, 1, headRow); // widened exactly: the fp32-held result
                    weights = headRow;
                }
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(weights, scale, row, row);
            }
        }
        dx.Clear();
        head.FinalNormBackward(dx, dNormed, x, rstd, n);
        return total;
    }

    /// <summary>Column-wise max over T rows of logits[T, V]; ties go to the earliest position (a strict compare).</summary>
    internal static void ColumnMax(ReadOnlySpan<float> logits, int positions, int vocab, Span<float> max, Span<int> argMax)
    {
        logits[..vocab].CopyTo(max);
        argMax.Clear();
        var lanes = Vector256<float>.Count;
        for (var t = 1; t < positions; t++)
        {
            var row = logits.Slice(t * vocab, vocab);
            var position = Vector256.Create(t);
            var v = 0;
            for (; v <= vocab - lanes; v += lanes)
            {
                var value = Vector256.Create(row.Slice(v, lanes));
                var best = Vector256.Create(max.Slice(v, lanes));
                var greater = Vector256.GreaterThan(value, best);
                Vector256.Max(value, best).CopyTo(max.Slice(v, lanes));
                Vector256.ConditionalSelect(greater.AsInt32(), position, Vector256.Create((ReadOnlySpan<int>)argMax.Slice(v, lanes))).CopyTo(argMax.Slice(v, lanes));
            }
            for (; v < vocab; v++)
                if (row[v] > max[v]) { max[v] = row[v]; argMax[v] = t; }
        }
    }
}
