using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Allocation;

/// <summary>Turns unit scores into kept indices (NIRVANA.md section 3, thresholds and per-layer rounding).</summary>
public static class SparsityAllocator
{
    public sealed record Result(AllocationBudget Budget, double AttentionThreshold, double MlpThreshold, IReadOnlyList<(int[] KeptGroups, int[] KeptNeurons)> Layers);

    /// <param name="mlpMultiple">kept MLP widths are rounded up to a multiple of this (NIRVANA.md section 3 uses 8)</param>
    public static Result Allocate(IReadOnlyList<LayerScores> scores, double sparsity, double gamma, int headDim, int groupSize, AllocationMode mode,
        int mlpMultiple = DefaultMlpMultiple)
    {
        if (mlpMultiple < 1) throw new ArgumentOutOfRangeException(nameof(mlpMultiple), mlpMultiple, "--mlp-multiple must be at least 1");
        if (scores.Count == 0) throw new ArgumentException("no layers to allocate", nameof(scores));
        var budget = AllocationBudget.Compute(sparsity, gamma, headDim, groupSize,
            scores.Select(s => s.Attention.Length).ToArray(), scores.Select(s => s.Mlp.Length).ToArray());
        var layers = new List<(int[], int[])>();
        double thetaAttn, thetaMlp;
        if (mode == AllocationMode.Global)
        {
            thetaAttn = NthSmallest(scores.SelectMany(s => s.Attention), budget.AttentionUnits);
            thetaMlp = NthSmallest(scores.SelectMany(s => s.Mlp), budget.MlpNeurons);
            foreach (var s in scores)
                layers.Add((KeepGroups(s.Attention, thetaAttn), KeepNeurons(s.Mlp, thetaMlp, mlpMultiple)));
        }
        else
        {
            // Uniform: each layer prunes its share of the same global counts, by the same candidate rule.
            thetaAttn = thetaMlp = double.NaN;
            double attnFraction = (double)budget.AttentionUnits / scores.Sum(s => s.Attention.Length);
            double mlpFraction = (double)budget.MlpNeurons / scores.Sum(s => s.Mlp.Length);
            foreach (var s in scores)
            {
                var attnCut = NthSmallest(s.Attention, (int)Math.Floor(attnFraction * s.Attention.Length));
                var mlpCut = NthSmallest(s.Mlp, (int)Math.Floor(mlpFraction * s.Mlp.Length));
                layers.Add((KeepGroups(s.Attention, attnCut), KeepNeurons(s.Mlp, mlpCut, mlpMultiple)));
            }
        }
        return new Result(budget, thetaAttn, thetaMlp, layers);
    }

    /// <summary>The n-th smallest value (1-based); 0 when n is 0, as the authors' implementation does.</summary>
    public static double NthSmallest(IEnumerable<double> values, int n)
    {
        if (n <= 0) return 0;
        var sorted = values.ToArray();
        if (n > sorted.Length) throw new ArgumentOutOfRangeException(nameof(n), $"cannot take the {n}-th smallest of {sorted.Length} scores");
        Array.Sort(sorted);
        return sorted[n - 1];
    }

    /// <summary>Groups scoring above the threshold survive; if none would, the highest-indexed group is kept.</summary>
    public static int[] KeepGroups(double[] scores, double threshold)
    {
        var kept = Enumerable.Range(0, scores.Length).Where(i => !(scores[i] <= threshold)).ToArray();
        return kept.Length > 0 ? kept : [scores.Length - 1];
    }

    /// <summary>The authors' rounding of kept MLP widths (NIRVANA.md section 3).</summary>
    public const int DefaultMlpMultiple = 8;

    /// <summary>
    /// Neurons scoring above the threshold survive; the kept count k0 is rounded up to a multiple of N
    /// (k = min(F, ceil(k0 / N) * N), at least N) by sparing the highest-scoring candidates. N = 8 is the authors'
    /// rule; 32 makes every MLP row Q8_0-sized in a GGUF export, 256 k-quant-sized.
    /// </summary>
    public static int[] KeepNeurons(double[] scores, double threshold, int multiple = DefaultMlpMultiple)
    {
        if (multiple < 1) throw new ArgumentOutOfRangeException(nameof(multiple), multiple, "the MLP multiple must be at least 1");
        var f = scores.Length;
        var survivors = Enumerable.Range(0, f).Where(i => !(scores[i] <= threshold)).ToList();
        var k0 = survivors.Count;
        var k = (int)Math.Min(f, Math.Max(multiple, ((long)k0 + multiple - 1) / multiple * multiple));
        if (k > k0)
        {
            var spared = Enumerable.Range(0, f).Where(i => scores[i] <= threshold)
                .OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k - k0);
            survivors.AddRange(spared);
        }
        survivors.Sort();
        return survivors.ToArray();
    }
}
