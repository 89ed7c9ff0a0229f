using NirvanaCluster.Pruning.Pipeline;
using System.Globalization;
using System.Text;
using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Pruning.Report;

/// <summary>report.md: the run's settings, parameter counts, and the per-layer table of kept heads and neurons.</summary>
public static class PruningReport
{
    /// <summary>One stage's memory for the report: its layers, the schedule it ran, planned and measured bytes.</summary>
    public sealed record StageMemoryRow(string Stage, int FirstLayer, int EndLayer, StageMemory Memory);

    /// <summary>One candidate of a KL-guided calibration search: its seed, its calibration set and its pruned model's KL.</summary>
    public sealed record CalibrationCandidate(int Seed, string Calibration, double Kl);

    /// <summary>A calibration search as the report shows it: the fixed held-out set, every candidate, the chosen seed.</summary>
    public sealed record CalibrationSearchRows(string HeldOut, IReadOnlyList<CalibrationCandidate> Candidates, int ChosenSeed);

    public static string Render(PruningPlan plan, int groupSize, string model, string calibration, TimeSpan elapsed, string chartFile,
        IReadOnlyList<StageMemoryRow>? memory = null, CalibrationSearchRows? search = null)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append("# Pruning report\n\n");
        md.Append(inv, $"| | |\n|---|---|\n| model | `{model}` |\n| method | {plan.Method} |\n| allocation | {plan.Allocation} |\n");
        md.Append(inv, $"| sparsity | {plan.Sparsity:0.###} |\n| gamma | {plan.Gamma:0.###} |\n| MLP widths rounded up to a multiple of | {plan.MlpMultiple} |\n| calibration | {calibration} |\n");
        md.Append(inv, $"| KV groups pruned (budget) | {plan.Layers.Sum(l => l.KvGroupsBefore) - plan.KeptKvGroups} ({plan.AttentionUnitsToPrune}) |\n");
        md.Append(inv, $"| MLP neurons pruned (budget) | {plan.Layers.Sum(l => l.NeuronsBefore) - plan.KeptNeurons} ({plan.MlpNeuronsToPrune}) |\n");
        md.Append(inv, $"| attention+MLP weights | {plan.ProjectionWeightsBefore:N0} → {plan.ProjectionWeightsAfter:N0} ({plan.ProjectionSparsity:P1} removed) |\n");
        md.Append(inv, $"| all parameters | {plan.ParametersBefore:N0} → {plan.ParametersAfter:N0} ({1 - (double)plan.ParametersAfter / plan.ParametersBefore:P1} fewer) |\n");
        md.Append(inv, $"| wall time | {elapsed.TotalSeconds:F1} s |\n\n");
        if (search is not null)
        {
            md.Append(inv, $"## Calibration search\n\nEach candidate calibration set pruned the model; each pruned model was compared with the dense one by " +
                           $"KL(dense ‖ pruned) per token on one fixed held-out set ({search.HeldOut}), with its removed units masked. The lowest wins.\n\n");
            md.Append("| seed | calibration | KL(dense ‖ pruned) per token | |\n|---:|---|---:|---|\n");
            foreach (var c in search.Candidates)
                md.Append(inv, $"| {c.Seed} | {c.Calibration} | {c.Kl:F5} | {(c.Seed == search.ChosenSeed ? "**chosen**" : "")} |\n");
            md.Append('\n');
        }
        md.Append(inv, $"![kept fraction per layer]({chartFile})\n\n");
        md.Append("| layer | KV groups kept | query heads kept | MLP neurons kept | attention kept | MLP kept |\n|---:|---:|---:|---:|---:|---:|\n");
        foreach (var l in plan.Layers)
        {
            md.Append(inv, $"| {l.Layer} | {l.KeptKvGroups.Length} / {l.KvGroupsBefore} | {l.KeptKvGroups.Length * groupSize} / {l.KvGroupsBefore * groupSize} | ");
            md.Append(inv, $"{l.KeptMlpNeurons.Length} / {l.NeuronsBefore} | {(double)l.KeptKvGroups.Length / l.KvGroupsBefore:P0} | {(double)l.KeptMlpNeurons.Length / l.NeuronsBefore:P0} |\n");
        }
        if (memory is { Count: > 0 })
        {
            // Peak RSS is the stage process's (in-process: the whole nirvana process, coordinator included).
            md.Append("\n## Memory per stage\n\n| stage | layers | schedule | planned | peak RSS | peak / planned | peak managed heap |\n|---|---|---|---:|---:|---:|---:|\n");
            foreach (var r in memory)
                md.Append(inv, $"| {r.Stage} | [{r.FirstLayer}, {r.EndLayer}) | {r.Memory.Schedule} | {ByteSizes.Format(r.Memory.PlannedBytes)} | " +
                               $"{ByteSizes.Format(r.Memory.PeakResidentBytes)} | {(r.Memory.PlannedBytes > 0 ? ((double)r.Memory.PeakResidentBytes / r.Memory.PlannedBytes).ToString("P0", inv) : "-")} | " +
                               $"{ByteSizes.Format(r.Memory.PeakManagedBytes)} |\n");
        }
        return md.ToString();
    }
}
