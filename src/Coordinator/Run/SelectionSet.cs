using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Calibration;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// The held-out set that selection (gamma, calibration seed) and a sweep's figures use. It is never calibration
/// data: a --selection-tokens file, or NIRVANA.md section 5's 128 x 64 drawn from the calibration source with a
/// seed no calibration set uses; any held-out row that equals a calibration row is dropped.
/// </summary>
public sealed record SelectionSet(int[][] Sequences, string Description, string? File, int? Seed)
{
    public static async Task<SelectionSet> ResolveAsync(PruneRequest request, string? spec, string modelDir, LlamaConfig config, IReadOnlyList<int> calibrationSeeds,
        Pruning.Pipeline.IPipeline pipeline, CancellationToken cancellation)
    {
        if (request.SelectionTokens is { } file)
        {
            var rows = TokenSequences.FromTokenFile(file, config.VocabSize, equalLength: true);
            if (rows[0].Length < 2) throw new ArgumentException($"--selection-tokens: {file} rows need at least two tokens");
            return new SelectionSet(rows, $"{rows.Length} x {rows[0].Length} tokens from {Path.GetFileName(file)}", Path.GetFullPath(file), null);
        }
        if (spec is null)
            throw new ArgumentException("--selection-tokens: this sweep needs a held-out set; pass --selection-tokens FILE (e.g. from `nirvana sample --seed 999`) " +
                                        "or --calibration TEXT|generated to draw it from");
        if (spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("--selection-tokens: the calibration is a token file, used as given, so no held-out set can be drawn from it; " +
                                        "pass --selection-tokens FILE (e.g. from `nirvana sample --seed 999`)");
        var seed = CalibrationSearch.HeldOutSeed;
        if (calibrationSeeds.Contains(seed))
            throw new ArgumentException($"--seed/--calibration-seeds: {seed} is the held-out set's seed; calibration must use another");
        var (drawn, description) = await new CalibrationSource(spec, modelDir, config).LoadAsync(pipeline, request.SelectionSamples,
            Math.Min(CalibrationSearch.HeldOutLength, request.SeqLen), seed, cancellation);
        return new SelectionSet(drawn, description, null, seed);
    }

    /// <summary>Drops held-out rows that occur verbatim inside a calibration row (windows of one text can coincide).</summary>
    public SelectionSet Without(IEnumerable<int[]> calibration)
    {
        var rows = calibration.ToArray();
        var kept = Sequences.Where(h => !rows.Any(c => Contains(c, h))).ToArray();
        if (kept.Length == Sequences.Length) return this;
        if (kept.Length == 0) throw new ArgumentException("--selection-tokens: every held-out sequence also occurs in the calibration data; choose a held-out set apart from it");
        Log.Warning("Dropped {Count} held-out sequences that also occur in the calibration data", Sequences.Length - kept.Length);
        return this with { Sequences = kept, Description = $"{Description}, less {Sequences.Length - kept.Length} that occur in the calibration data" };
    }

    private static bool Contains(int[] row, int[] part)
    {
        for (var start = 0; start + part.Length <= row.Length; start++)
            if (row.AsSpan(start, part.Length).SequenceEqual(part)) return true;
        return false;
    }
}
