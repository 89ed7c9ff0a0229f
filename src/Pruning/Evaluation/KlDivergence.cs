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
