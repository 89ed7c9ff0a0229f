using System.CommandLine;
using NirvanaCluster.Pruning.Sweep;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// The prune flags of a sweep: several --sparsity values, --gamma as one value, a list or "auto", --scores to replan
/// without a pass, and the held-out set that selection and the sweep's figures use.
/// </summary>
public sealed class SweepFlags
{
    public Option<double[]> Sparsity { get; } = Numbers(new("--sparsity")
    {
        Description = "Fraction of attention+MLP weights to remove, in (0, 1); several values (0.2 0.3 0.5) make a sweep: one calibration pass, " +
                      "one model per sparsity under --output/s<sparsity>, plus sweep.json and a report with the quality-vs-size curve",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    });

    public Option<string[]> Gamma { get; } = GammaValues(new("--gamma")
    {
        Description = "Attention/MLP balance (NIRVANA's gamma; 1 prunes both pools at the same fraction). One value (default 3.36), " +
                      $"a list (1 2 3.36 5), or 'auto' for the grid {GammaGrid.Describe(GammaGrid.Default)}: each candidate is scored by KL(dense || pruned) " +
                      "on the held-out set with its removed units masked, and the lowest wins per sparsity",
        AllowMultipleArgumentsPerToken = true,
    });

    public Option<string?> Scores { get; } = new("--scores")
    {
        Description = "Plan from a scores.safetensors written by an earlier prune of the same model and method, without a calibration pass",
    };

    public Option<string?> SelectionTokens { get; } = new("--selection-tokens")
    {
        Description = "Held-out JSON token file for selection (--gamma list/auto, --calibration-seeds) and the sweep's KL/perplexity " +
                      $"(default: {Cli.CalibrationSearch.HeldOutSequences} x {Cli.CalibrationSearch.HeldOutLength} tokens drawn from the calibration source with seed {Cli.CalibrationSearch.HeldOutSeed})",
    };

    public Option<int> SelectionSamples { get; } = NumberOption.Int("--selection-samples", "Held-out sequences drawn when --selection-tokens is not given",
        CalibrationSearch.HeldOutSequences);

    /// <summary>Each value read as every number flag is (<see cref="NumberOption.ParseDouble"/>: invariant, no separators).</summary>
    private static Option<double[]> Numbers(Option<double[]> option)
    {
        option.CustomParser = result =>
        {
            var values = new List<double>();
            foreach (var token in result.Tokens)
                try
                {
                    if (Unrecognized(result, token.Value)) return [];
                    values.Add(NumberOption.ParseDouble(option.Name, token.Value)!.Value);
                }
                catch (FormatException e)
                {
                    result.AddError(e.Message);
                    return [];
                }
            return values.ToArray();
        };
        return option;
    }

    /// <summary>--gamma: 'auto' or numbers, each number read as <see cref="NumberOption.ParseDouble"/> reads it.</summary>
    private static Option<string[]> GammaValues(Option<string[]> option)
    {
        option.CustomParser = result =>
        {
            foreach (var token in result.Tokens)
            {
                if (Unrecognized(result, token.Value)) return [];
                if (token.Value.Equals("auto", StringComparison.OrdinalIgnoreCase)) continue;
                try
                {
                    NumberOption.ParseDouble(option.Name, token.Value);
                }
                catch (FormatException e)
                {
                    result.AddError(e.Message);
                    return [];
                }
            }
            return result.Tokens.Select(t => t.Value).ToArray();
        };
        return option;
    }

    /// <summary>A list option takes every following token; one that looks like a flag is an unknown flag, not a value.</summary>
    private static bool Unrecognized(System.CommandLine.Parsing.ArgumentResult result, string token)
    {
        if (!token.StartsWith("--", StringComparison.Ordinal)) return false;
        result.AddError($"Unrecognized command or argument '{token}'");
        return true;
    }

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
        var parsed = values.Select(v => NumberOption.ParseDouble("--gamma", v)!.Value).ToArray();
        return parsed.Length == 1 ? (parsed[0], []) : (parsed[0], parsed);
    }
}
