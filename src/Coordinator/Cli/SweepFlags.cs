using System.CommandLine;
using System.Globalization;
using NirvanaCluster.Pruning.Sweep;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// The prune flags of a sweep: several --sparsity values, --gamma as one value, a list or "auto", --scores to replan
/// without a pass, and the held-out set that selection and the sweep's figures use.
/// </summary>
public sealed class SweepFlags
{
    public Option<double[]> Sparsity { get; } = new("--sparsity")
    {
        Description = "Fraction of attention+MLP weights to remove, in (0, 1); several values (0.2 0.3 0.5) make a sweep: one calibration pass, " +
                      "one model per sparsity under --output/s<sparsity>, plus sweep.json and a report with the quality-vs-size curve",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };

    public Option<string[]> Gamma { get; } = new("--gamma")
    {
        Description = "Attention/MLP balance (NIRVANA's gamma; 1 prunes both pools at the same fraction). One value (default 3.36), " +
                      $"a list (1 2 3.36 5), or 'auto' for the grid {GammaGrid.Describe(GammaGrid.Default)}: each candidate is scored by KL(dense || pruned) " +
                      "on the held-out set with its removed units masked, and the lowest wins per sparsity",
        AllowMultipleArgumentsPerToken = true,
    };

    public Option<string?> Scores { get; } = new("--scores")
    {
        Description = "Plan from a scores.safetensors written by an earlier prune of the same model and method, without a calibration pass",
    };

    public Option<string?> SelectionTokens { get; } = new("--selection-tokens")
    {
        Description = "Held-out JSON token file for selection (--gamma list/auto, --calibration-seeds in a sweep) and the sweep's KL/perplexity " +
                      $"(default: {Cli.CalibrationSearch.HeldOutSequences} x {Cli.CalibrationSearch.HeldOutLength} tokens drawn from the calibration source with seed {Cli.CalibrationSearch.HeldOutSeed})",
    };

    public Option<int> SelectionSamples { get; } = new("--selection-samples")
    {
        Description = "Held-out sequences drawn when --selection-tokens is not given",
        DefaultValueFactory = _ => Cli.CalibrationSearch.HeldOutSequences,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Sparsity, Gamma, Scores, SelectionTokens, SelectionSamples }) command.Options.Add(option);
    }

    /// <summary>(the fixed gamma, the candidates): one number is fixed; a list or "auto" are candidates.</summary>
    public static (double Fixed, IReadOnlyList<double> Candidates) ParseGamma(string[]? values)
    {
        if (values is null || values.Length == 0) return (3.36, []);
        if (values.Any(v => v.Equals("auto", StringComparison.OrdinalIgnoreCase)))
        {
            if (values.Length > 1) throw new ArgumentException("--gamma: 'auto' stands alone (or list the gammas to try)");
            return (GammaGrid.Default[0], GammaGrid.Default);
        }
        var parsed = values.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && double.IsFinite(g)
            ? g : throw new ArgumentException($"--gamma: '{v}' is not a number (write 3.36, not 3,36) nor 'auto'")).ToArray();
        return parsed.Length == 1 ? (parsed[0], []) : (parsed[0], parsed);
    }
}
