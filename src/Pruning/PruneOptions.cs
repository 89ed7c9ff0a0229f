using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning;

/// <summary>Settings of one pruning run; validated with messages naming the command-line flag.</summary>
public sealed record PruneOptions
{
    public required double Sparsity { get; init; }
    public double Gamma { get; init; } = 3.36;
    public PruningMethod Method { get; init; } = PruningMethod.Nirvana;
    public AllocationMode Allocation { get; init; } = AllocationMode.Global;
    public int Seed { get; init; }
    /// <summary>Sequences per micro-batch; the objective is separable over sequences, so results do not depend on it beyond float rounding.</summary>
    public int MicroBatchSize { get; init; } = 4;
    public int MaxInFlight { get; init; } = 4;
    /// <summary>Kept MLP widths are rounded up to a multiple of this (NIRVANA.md section 3: 8).</summary>
    public int MlpMultiple { get; init; } = SparsityAllocator.DefaultMlpMultiple;

    public PruneOptions Validated()
    {
        if (!(Sparsity > 0 && Sparsity < 1)) throw new ArgumentException($"--sparsity must lie strictly between 0 and 1 (got {Sparsity})");
        if (!(Gamma > 0) || double.IsInfinity(Gamma)) throw new ArgumentException($"--gamma must be a positive number (got {Gamma})");
        if (MicroBatchSize <= 0) throw new ArgumentException($"--micro-batch must be positive (got {MicroBatchSize})");
        if (MlpMultiple < 1) throw new ArgumentException($"--mlp-multiple must be at least 1 (got {MlpMultiple})");
        if (MaxInFlight <= 0) throw new ArgumentException($"--in-flight must be positive (got {MaxInFlight})");
        return this;
    }
}
