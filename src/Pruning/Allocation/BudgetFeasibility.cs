namespace NirvanaCluster.Pruning.Allocation;

/// <summary>
/// Whether a sparsity and gamma can be met by a model's shape, checked before the calibration pass: the budget
/// (<see cref="AllocationBudget"/>) depends only on the config, so asking for more KV groups or neurons than exist
/// is known up front. The message says what is possible: the largest sparsity at this gamma and the gammas that
/// work at this sparsity. (It used to fail after the whole pass with "cannot take the 355-th smallest of 256 scores".)
/// </summary>
public static class BudgetFeasibility
{
    public static void Check(double sparsity, double gamma, int headDim, int groupSize, IReadOnlyList<int> kvHeadsPerLayer, IReadOnlyList<int> ffnPerLayer)
    {
        double k = kvHeadsPerLayer.Sum(), f = ffnPerLayer.Sum(), a = 2.0 * headDim * (groupSize + 1);
        bool Fits(double s)
        {
            var b = AllocationBudget.Compute(s, gamma, headDim, groupSize, kvHeadsPerLayer, ffnPerLayer);
            return b.AttentionUnits <= k && b.MlpNeurons <= f;
        }
        if (Fits(sparsity)) return;
        var budget = AllocationBudget.Compute(sparsity, gamma, headDim, groupSize, kvHeadsPerLayer, ffnPerLayer);
        var layers = kvHeadsPerLayer.Count;
        var total = a * k + 3 * f;

        // Both counts grow with the sparsity: bisect for the largest that fits (with the budget's own floors), in
        // steps of 0.001 so the number printed is one that works.
        int lo = 0, hi = (int)Math.Ceiling(sparsity * 1000); // Fits(lo / 1000) is taken as true (a sparsity of 0 removes nothing)
        while (hi - lo > 1)
        {
            var mid = (lo + hi) / 2;
            if (Fits(mid / 1000.0)) lo = mid; else hi = mid;
        }
        var maxSparsity = lo / 1000.0;
        // At this sparsity: n_attn <= K needs g >= (B - a K) / (3 F); n_mlp <= F needs g <= a K / (B - 3 F) when B > 3 F.
        var b = sparsity * total;
        var gammaLow = Math.Max(0, (b - a * k) / (3 * f));
        var gammaHigh = b > 3 * f ? a * k / (b - 3 * f) : double.PositiveInfinity;
        var what = budget.AttentionUnits > k
            ? $"{budget.AttentionUnits} of the model's {k} KV groups"
            : $"{budget.MlpNeurons} of the model's {f} MLP neurons";
        var gammas = double.IsPositiveInfinity(gammaHigh) ? $"--gamma above about {gammaLow:0.###}" : $"--gamma between about {gammaLow:0.###} and {gammaHigh:0.###}";
        throw new ArgumentException(
            $"--sparsity {sparsity} with --gamma {gamma} asks to remove {what}, more than exist; at this gamma the largest possible sparsity is " +
            $"{maxSparsity:0.###}, or keep the sparsity with {gammas}. (Each of the {layers} layers also keeps at least one KV group " +
            "and 8 neurons, so the removed fraction can fall short of a high sparsity.)");
    }
}
