using System.Numerics.Tensors;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Pruning.Evaluation;

/// <summary>
/// KL(dense || pruned) per token (NIRVANA.md section 5): mean over every position of every sequence of
/// sum_v P(v) (log P(v) - log Q(v)), P the dense model's next-token distribution, Q the pruned one's, in fp32
/// logits with double accumulation.
/// </summary>
public static class KlDivergence
{
    public static double Evaluate(LlamaShard dense, LlamaShard pruned, IReadOnlyList<int[]> sequences, int microBatch = 4, IProgress<int>? progress = null)
    {
        if (dense.Vocab != pruned.Vocab) throw new ArgumentException($"vocabularies differ: dense {dense.Vocab}, pruned {pruned.Vocab}");
        var vocab = dense.Vocab;
        double total = 0;
        long tokens = 0;
        for (var first = 0; first < sequences.Count; first += microBatch)
        {
            var chunk = sequences.Skip(first).Take(microBatch).ToArray();
            var denseLogits = new float[chunk.Length][];
            LogitStream.ForEach(dense, chunk, microBatch, (i, logits) => denseLogits[i] = (float[])logits.Clone());
            LogitStream.ForEach(pruned, chunk, microBatch, (i, logits) =>
            {
                var p = denseLogits[i];
                for (var r = 0; r < chunk[i].Length; r++)
                {
                    total += RowKl(p.AsSpan(r * vocab, vocab), logits.AsSpan(r * vocab, vocab));
                    tokens++;
                }
            });
            progress?.Report(first + chunk.Length);
        }
        return tokens == 0 ? 0 : total / tokens;
    }

    /// <summary>log sum exp(row), vectorized: the max, then exp(row - max) into <paramref name="scratch"/> [V] and its sum.</summary>
    public static double LogSumExp(ReadOnlySpan<float> row, Span<float> scratch)
    {
        var max = TensorPrimitives.Max(row);
        var e = scratch[..row.Length];
        TensorPrimitives.Subtract(row, max, e);
        TensorPrimitives.Exp(e, e);
        return max + Math.Log(TensorPrimitives.Sum<float>(e));
    }

    /// <summary>
    /// The vectorized row KL of the masked-evaluation head: with lseP, lseQ the rows' log-sum-exps,
    /// KL = sum_v P(v) (p(v) - q(v)) + lseQ - lseP, which stays well conditioned (every term is a logit difference)
    /// in fp32 vector arithmetic. <paramref name="probs"/> and <paramref name="diff"/> are [V] scratch.
    /// </summary>
    public static double RowKl(ReadOnlySpan<float> p, double lseP, ReadOnlySpan<float> q, double lseQ, Span<float> probs, Span<float> diff)
    {
        var pr = probs[..p.Length];
        var df = diff[..p.Length];
        TensorPrimitives.Subtract(p, (float)lseP, pr);
        TensorPrimitives.Exp(pr, pr);
        TensorPrimitives.Subtract(p, q, df);
        return Math.Max(0, TensorPrimitives.Dot(pr, df) + (lseQ - lseP));
    }

    /// <summary>KL(softmax(p) || softmax(q)) for one row of logits.</summary>
    public static double RowKl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        var lseP = CrossEntropy.LogSumExp(p);
        var lseQ = CrossEntropy.LogSumExp(q);
        double kl = 0;
        for (var v = 0; v < p.Length; v++)
        {
            var logP = p[v] - lseP;
            kl += Math.Exp(logP) * (logP - (q[v] - lseQ));
        }
        return Math.Max(0, kl);
    }
}
