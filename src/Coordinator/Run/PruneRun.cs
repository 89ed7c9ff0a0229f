using System.Diagnostics;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Sweep;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// One pruning job from request to written model: resolve the model and the calibration data, place the stages,
/// run the calibration pass (or the KL-guided search over calibration seeds, or read saved scores), allocate, compact
/// and write. Several sparsities or gamma candidates hand over to <see cref="SweepRun"/> once the stages are up.
/// The command line only builds the <see cref="PruneRequest"/> and prints the outcome.
/// </summary>
public static class PruneRun
{
    public static async Task<PruneOutcome> RunAsync(PruneRequest request, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        request = request.Validated();
        var options = request.Options;
        var outputDir = Path.GetFullPath(request.Output);
        if (Directory.Exists(outputDir) && !request.Force)
            throw new ArgumentException($"--output: folder '{outputDir}' already exists; pass --force to replace it");
        var dir = ModelLocator.Resolve(request.Model, out var isDefault);
        if (Path.GetFullPath(dir).TrimEnd('/') == outputDir.TrimEnd('/')) throw new ArgumentException("--output must differ from --model");
        using var checkpoint = Checkpoint.Open(dir);
        var config = checkpoint.Config;

        // The data the pass needs: none for magnitude/random or with saved scores.
        var needsData = options.Method.NeedsGradients() && request.ScoresFile is null;
        var spec = request.Calibration ?? (isDefault ? CalibrationLoader.Generated : null);
        if (spec is null && needsData)
            throw new ArgumentException($"--calibration is required for method {options.Method.Name()} on a model other than the default (a token file, a text file, or 'generated')");
        if (spec == CalibrationLoader.Generated && !request.Cluster.InProcess && needsData)
            throw new ArgumentException("--calibration generated samples from the whole model in one process; with nodes, give a token or text file (see `nirvana sample`)");
        var seeds = request.CalibrationSeeds;
        if (seeds.Count > 0)
        {
            if (!request.Cluster.InProcess && !request.IsSweep) throw new ArgumentException("--calibration-seeds compares pruned models in this process; it cannot be combined with nodes (except in a sweep)");
            if (!options.Method.NeedsGradients()) throw new ArgumentException($"--calibration-seeds: method {options.Method.Name()} uses no calibration data");
            if (spec!.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("--calibration-seeds draws candidate sets from a text file or 'generated'; a token file is used as given");
        }
        var (sequences, description) = needsData && seeds.Count == 0
            ? CalibrationLoader.Load(spec!, dir, config, request.Samples, request.SeqLen, options.Seed)
            : ([], seeds.Count > 0 ? "searched" : "none (the criterion needs no data)");

        var positions = sequences.Length > 0 ? sequences[0].Length : request.SeqLen;
        await using var session = await ClusterSession.StartAsync(request.Cluster, dir, config, options.MicroBatchSize, positions, options.MaxInFlight, cancellation);
        IReadOnlyList<IStage> stages = session.Stages;
        var job = new PruneJob(config, stages, options);
        var identity = ModelIdentity.Of(dir);
        if (request.IsSweep)
            return await SweepRun.RunAsync(new SweepRun.Setup(request, dir, outputDir, checkpoint.RawConfig, config, spec, sequences, description, identity, session, job),
                clock, cancellation);

        PruneResult result;
        CalibrationSearch.Outcome? search = null;
        var seed = options.Seed;
        double? objective = null;
        string? scoresFrom = null;
        if (request.ScoresFile is { } scoresFile)
        {
            var saved = ScoresFile.Read(scoresFile, config, identity, options.Method);
            Log.Information("Planning from saved scores {File} ({Calibration}); no calibration pass", scoresFile, saved.Calibration);
            result = job.Plan(saved.Layers, null, clock.Elapsed);
            (description, seed, objective, scoresFrom) = (saved.Calibration, saved.Seed, saved.Objective, Path.GetFullPath(scoresFile));
        }
        else if (seeds.Count > 0)
        {
            search = await CalibrationSearch.RunAsync(seeds, spec!, dir, config, request.Samples, request.SeqLen, stages, options, cancellation);
            result = search.Best;
            seed = search.Chosen.Seed;
            description = search.Chosen.Description + $", chosen by KL over seeds {string.Join(", ", seeds)}";
        }
        else
        {
            ScoredModel scored;
            using (var progress = new ProgressLine("calibration"))
                scored = await job.ScoreAsync(sequences, progress, cancellation);
            result = job.Plan(scored.Scores, scored.Calibration, clock.Elapsed);
        }
        objective ??= result.Calibration?.Objective;
        var scores = new ScoreSet(PrunedModelOutput.ScoresOf(result.Plan), options.Method, seed, description, identity, objective);
        var extras = Extras(dir, description, seed, objective, result, stages);
        extras["calibration_search"] = search?.Candidates.Select(c => new { seed = c.Seed, kl = c.Kl }).ToArray();
        extras["scores_from"] = scoresFrom;
        var inputs = new PrunedModelWriter.Inputs(dir, checkpoint.RawConfig, result, description, extras, request.Force, request.DType, Scores: scores);
        PrunedModelOutput.Write(outputDir, inputs, session, job, request.Cluster.SharedOutput, clock.Elapsed, cancellation);
        Log.Information("Report: {Report}", Path.Combine(outputDir, "report.md"));
        return new PruneOutcome(dir, outputDir, result.Plan, clock.Elapsed);
    }

    /// <summary>pruning-plan.json's fields beyond the plan itself.</summary>
    internal static Dictionary<string, object?> Extras(string dir, string description, int seed, double? objective, PruneResult result, IReadOnlyList<IStage> stages) => new()
    {
        ["model"] = dir,
        ["calibration"] = description,
        ["seed"] = seed,
        ["objective"] = objective,
        ["pipeline_idle_fraction"] = result.Calibration?.IdleFraction,
        ["stages"] = stages.Select(s => new { name = s.Name, first_layer = s.Descriptor.FirstLayer, end_layer = s.Descriptor.EndLayer }).ToArray(),
    };
}
