namespace NirvanaCluster.Pruning.Plan;

/// <summary>What to keep in one layer: ascending 0-based indices into the model being pruned.</summary>
public sealed record LayerPlan(
    int Layer,
    int KvGroupsBefore,
    int NeuronsBefore,
    int[] KeptKvGroups,
    int[] KeptMlpNeurons,
    double[] AttentionScores,
    double[] MlpScores);

/// <summary>The whole pruning decision, serialized as pruning-plan.json.</summary>
public sealed record PruningPlan(
    string Method,
    string Allocation,
    double Sparsity,
    double Gamma,
    double Budget,
    int AttentionUnitsToPrune,
    int MlpNeuronsToPrune,
    double AttentionThreshold,
    double MlpThreshold,
    long ParametersBefore,
    long ParametersAfter,
    long ProjectionWeightsBefore,
    long ProjectionWeightsAfter,
    IReadOnlyList<LayerPlan> Layers,
    int MlpMultiple = 8)
{
    /// <summary>The fraction of attention+MLP projection weights removed: what --sparsity asks for.</summary>
    public double ProjectionSparsity => 1 - (double)ProjectionWeightsAfter / ProjectionWeightsBefore;

    public int KeptKvGroups => Layers.Sum(l => l.KeptKvGroups.Length);
    public int KeptNeurons => Layers.Sum(l => l.KeptMlpNeurons.Length);
}
