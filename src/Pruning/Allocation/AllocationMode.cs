namespace NirvanaCluster.Pruning.Allocation;

/// <summary>How pruned units are spread over layers.</summary>
public enum AllocationMode
{
    /// <summary>NIRVANA: two global pools (attention groups, MLP neurons) with one threshold each.</summary>
    Global,
    /// <summary>Baseline: every layer loses the same fraction of its own units.</summary>
    Uniform,
}
