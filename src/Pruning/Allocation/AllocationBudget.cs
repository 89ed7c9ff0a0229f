namespace NirvanaCluster.Pruning.Allocation;

/// <summary>
/// NIRVANA's global budget (NIRVANA.md section 3), in units of D weights:
///   a = 2 Dh (G + 1) per attention unit, 3 per MLP neuron;
///   budget = s * sum over layers of (a Hkv_l + 3 F_l);  r = Hkv / (gamma F)  (totals over layers);
///   n_attn_f = budget / (a + 3 / r);  n_mlp = floor(n_attn_f / r);  n_attn = floor(n_attn_f).
/// For a dense model the sums are L times the per-layer terms, exactly as the authors write it.
/// </summary>
public sealed record AllocationBudget(double Budget, double UnitsPerNeuron, double AttentionUnitsFractional, int AttentionUnits, int MlpNeurons)
{
    public static AllocationBudget Compute(double sparsity, double gamma, int headDim, int groupSize,
        IReadOnlyList<int> kvHeadsPerLayer, IReadOnlyList<int> ffnPerLayer)
    {
        if (!(sparsity > 0 && sparsity < 1)) throw new ArgumentOutOfRangeException(nameof(sparsity), $"sparsity must lie in (0, 1), got {sparsity}");
        if (!(gamma > 0) || double.IsInfinity(gamma)) throw new ArgumentOutOfRangeException(nameof(gamma), $"gamma must be positive, got {gamma}");
        double a = 2.0 * headDim * (groupSize + 1);
        double kvTotal = kvHeadsPerLayer.Sum(), ffnTotal = ffnPerLayer.Sum();
        var budget = sparsity * (a * kvTotal + 3 * ffnTotal);
        var r = kvTotal / (gamma * ffnTotal);
        var nAttnF = budget / (a + 3 / r);
        return new AllocationBudget(budget, r, nAttnF, (int)Math.Floor(nAttnF), (int)Math.Floor(nAttnF / r));
    }
}
