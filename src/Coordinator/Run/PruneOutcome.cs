using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>What a finished prune tells its caller: where the model went and what was removed.</summary>
public sealed record PruneOutcome(string Model, string Output, PruningPlan Plan, TimeSpan Elapsed)
{
    /// <summary>A sweep's own summary (one line per model written); null for a single prune.</summary>
    public string? SweepSummary { get; init; }

    public string Summary => SweepSummary ??
        $"pruned {Model} -> {Output}: attention+MLP weights {Plan.ProjectionSparsity:P1} removed, " +
        $"parameters {Plan.ParametersBefore:N0} -> {Plan.ParametersAfter:N0} ({1 - (double)Plan.ParametersAfter / Plan.ParametersBefore:P1} fewer), " +
        $"KV groups {Plan.Layers.Sum(l => l.KvGroupsBefore)} -> {Plan.KeptKvGroups}, MLP neurons {Plan.Layers.Sum(l => l.NeuronsBefore)} -> {Plan.KeptNeurons}, " +
        $"{Elapsed.TotalSeconds:F1} s";

    /// <summary>The `prune --json` object.</summary>
    public object ToJson() => new
    {
        output = Output,
        model = Model,
        method = Plan.Method,
        allocation = Plan.Allocation,
        sparsity = Plan.Sparsity,
        gamma = Plan.Gamma,
        projection_sparsity = Plan.ProjectionSparsity,
        parameters_before = Plan.ParametersBefore,
        parameters_after = Plan.ParametersAfter,
        kv_groups_before = Plan.Layers.Sum(l => l.KvGroupsBefore),
        kv_groups_after = Plan.KeptKvGroups,
        neurons_before = Plan.Layers.Sum(l => l.NeuronsBefore),
        neurons_after = Plan.KeptNeurons,
        layers = Plan.Layers.Select(l => new { kv_groups = l.KeptKvGroups.Length, neurons = l.KeptMlpNeurons.Length }),
        seconds = Elapsed.TotalSeconds,
    };
}
