using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Pruning.Evaluation;

/// <summary>exp(mean next-token NLL over every predicted token); each sequence is scored on its own (nothing prepended).</summary>
public sealed record PerplexityResult(double Perplexity, double MeanNll, long Tokens, int Sequences);

public static class Perplexity
{
    public static PerplexityResult Evaluate(LlamaShard model, IReadOnlyList<int[]> sequences, int microBatch = 4, IProgress<int>? progress = null)
    {
        double total = 0;
        long count = 0;
        // Sequences of different lengths are scored in groups of equal length.
        foreach (var group in sequences.Select((s, i) => (s, i)).GroupBy(p => p.s.Length))
        {
            if (group.Key < 2) continue;
            var seqs = group.Select(p => p.s).ToArray();
            var targets = new int[group.Key];
            LogitStream.ForEach(model, seqs, microBatch, (i, logits) =>
            {
                for (var t = 0; t < targets.Length; t++) targets[t] = t + 1 < targets.Length ? seqs[i][t + 1] : -1;
                total += CrossEntropy.Forward(logits, targets, model.Vocab);
            }, progress);
            count += (long)seqs.Length * (group.Key - 1);
        }
        if (count == 0) throw new ArgumentException("no sequence has two or more tokens, so nothing is predicted");
        return new PerplexityResult(Math.Exp(total / count), total / count, count, sequences.Count);
    }
}
