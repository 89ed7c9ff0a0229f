using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Evaluation;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// KL-guided calibration selection (NIRVANA.md section 5): each candidate calibration set (drawn with its own seed)
/// prunes the model; each pruned model is compared with the dense one on a fixed held-out set (the authors: 128
/// sequences of 64 tokens, one seed) by KL(dense || pruned) per token, and the lowest wins.
/// </summary>
public static class CalibrationSearch
{
    public const int HeldOutSequences = 128;
    public const int HeldOutLength = 64;
    public const int HeldOutSeed = 4242;

    public sealed record Candidate(int Seed, double Kl, string Description);

    public sealed record Outcome(PruneResult Best, Candidate Chosen, IReadOnlyList<Candidate> Candidates);

    public static async Task<Outcome> RunAsync(IReadOnlyList<int> seeds, string spec, string modelDir, LlamaConfig config, int samples, int seqLen,
        IPipeline pipeline, PruneOptions options, CancellationToken cancellation)
    {
        if (seeds.Count == 0) throw new ArgumentException("--calibration-seeds needs at least one seed");
        if (seeds.Distinct().Count() != seeds.Count) throw new ArgumentException("--calibration-seeds lists a seed twice");
        if (seeds.Contains(HeldOutSeed)) throw new ArgumentException($"--calibration-seeds: {HeldOutSeed} is the held-out set's seed; calibration must use another");
        var dense = Engine.Checkpoints.ShardLoader.LoadAll(modelDir);
        var (heldOut, heldOutDescription) = CalibrationLoader.Load(spec, modelDir, config, HeldOutSequences, Math.Min(HeldOutLength, seqLen), HeldOutSeed);
        Log.Information("Calibration search over seeds {Seeds}; held-out set: {HeldOut}", string.Join(", ", seeds), heldOutDescription);
        var candidates = new List<Candidate>();
        PruneResult? best = null;
        var bestKl = double.PositiveInfinity;
        foreach (var seed in seeds)
        {
            var (sequences, description) = CalibrationLoader.Load(spec, modelDir, config, samples, seqLen, seed);
            PruneResult result;
            using (var progress = new ProgressLine($"calibration seed {seed}"))
                result = await new PruneJob(config, pipeline, options with { Seed = seed }).PlanAsync(sequences, progress, cancellation);
            var kl = KlDivergence.Evaluate(dense, Compactor.CompactModel(dense, result.Plan.Layers), heldOut);
            Log.Information("Seed {Seed}: KL(dense || pruned) = {Kl:F5} per held-out token", seed, kl);
            candidates.Add(new Candidate(seed, kl, description));
            if (kl < bestKl)
            {
                best = result;
                bestKl = kl;
            }
        }
        var chosen = candidates.First(c => c.Kl == bestKl);
        Log.Information("Chose calibration seed {Seed} (KL {Kl:F5})", chosen.Seed, chosen.Kl);
        return new Outcome(best!, chosen, candidates);
    }
}
