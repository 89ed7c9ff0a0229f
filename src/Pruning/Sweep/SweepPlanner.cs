using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Pruning.Sweep;

/// <summary>One plan of a sweep: a sparsity, a gamma and the score set (calibration seed) it was planned from.</summary>
public sealed record SweepCandidate(double Sparsity, double Gamma, int ScoreSet, PruneResult Result)
{
    /// <summary>Its held-out quality, once evaluated (masked, against the dense model).</summary>
    public VariantQuality? Quality { get; init; }
}

/// <summary>
/// Plans every (score set, sparsity, gamma) from scores already computed (the allocation is cheap; the pass is not),
/// and picks per sparsity the candidate with the lowest held-out KL(dense || pruned). Ties go to the earliest
/// candidate in (score set, gamma) order, so the choice is deterministic.
/// </summary>
public static class SweepPlanner
{
    public static IReadOnlyList<SweepCandidate> Plan(LlamaConfig config, IReadOnlyList<ScoreSet> scoreSets, IReadOnlyList<double> sparsities,
        IReadOnlyList<double> gammas, PruneOptions options)
    {
        if (scoreSets.Count == 0 || sparsities.Count == 0 || gammas.Count == 0) throw new ArgumentException("a sweep needs score sets, sparsities and gammas");
        if (sparsities.Distinct().Count() != sparsities.Count) throw new ArgumentException("--sparsity lists a value twice");
        if (gammas.Distinct().Count() != gammas.Count) throw new ArgumentException("--gamma lists a value twice");
        var result = new List<SweepCandidate>();
        foreach (var sparsity in sparsities)
            for (var set = 0; set < scoreSets.Count; set++)
                foreach (var gamma in gammas)
                {
                    var plan = PruneJob.BuildPlan(config, scoreSets[set].Layers, options with { Sparsity = sparsity, Gamma = gamma, Seed = scoreSets[set].Seed });
                    result.Add(new SweepCandidate(sparsity, gamma, set, new PruneResult(plan, Compaction.Compactor.PrunedConfig(config, plan.Layers), null, TimeSpan.Zero)));
                }
        return result;
    }

    /// <summary>Per sparsity, in the order given: the evaluated candidate with the lowest KL.</summary>
    public static IReadOnlyList<SweepCandidate> Choose(IReadOnlyList<SweepCandidate> evaluated, IReadOnlyList<double> sparsities) =>
        sparsities.Select(s =>
        {
            SweepCandidate? best = null;
            foreach (var c in evaluated.Where(c => c.Sparsity == s))
            {
                var quality = c.Quality ?? throw new InvalidOperationException($"candidate sparsity {c.Sparsity} gamma {c.Gamma} was not evaluated");
                if (best is null || quality.Kl < best.Quality!.Kl) best = c;
            }
            return best ?? throw new InvalidOperationException($"no candidate for sparsity {s}");
        }).ToArray();

    /// <summary>Candidates with identical kept units need one evaluation: index of the first identical candidate for each.</summary>
    public static int[] FirstIdentical(IReadOnlyList<SweepCandidate> candidates)
    {
        var first = new int[candidates.Count];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < candidates.Count; i++)
        {
            var key = string.Join(";", candidates[i].Result.Plan.Layers.Select(l => string.Join(",", l.KeptKvGroups) + "|" + string.Join(",", l.KeptMlpNeurons)));
            first[i] = seen.TryGetValue(key, out var j) ? j : seen[key] = i;
        }
        return first;
    }
}
