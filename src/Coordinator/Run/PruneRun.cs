using System.Diagnostics;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Calibration;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Sweep;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// One pruning job from request to written model: resolve the model and the calibration data, place the stages,
/// run the calibration pass (or the KL-guided search over calibration seeds, or read saved scores), allocate, compact
/// and write. Several sparsities or gamma candidates hand over to <see cref="SweepRun"/>.
/// The command line only builds the <see cref="PruneRequest"/> and prints the outcome.
/// </summary>
public static class PruneRun
{
    /// <summary>
    /// Everything about the request that the config alone can refute, before the calibration data is drawn and
    /// before any node process starts: node count, sparsity/gamma feasibility, sequence length, memory, ignored flags.
    /// </summary>
    public static void CheckBeforeWork(PruneRequest request, LlamaConfig config, string spec)
    {
        var options = request.Options;
        request.Cluster.ValidatedFor(config);
        BudgetFeasibility.Check(options.Sparsity, options.Gamma, config.HeadDim, config.GroupSize,
            Enumerable.Range(0, config.NumHiddenLayers).Select(config.KvHeadsOf).ToArray(),
            Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnOf).ToArray());
        foreach (var sparsity in request.Sparsities)
            foreach (var gamma in request.GammaCandidates.Count > 0 ? request.GammaCandidates : [options.Gamma])
                BudgetFeasibility.Check(sparsity, gamma, config.HeadDim, config.GroupSize,
                    Enumerable.Range(0, config.NumHiddenLayers).Select(config.KvHeadsOf).ToArray(),
                    Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnOf).ToArray());
        if (!options.Method.NeedsGradients() || request.ScoresFile is not null)
        {
            if (request.Calibration is not null || request.SamplesSet || request.SeqLenSet)
                Log.Warning("Method {Method} uses no calibration data; --calibration, --samples and --seq-len are ignored", options.Method.Name());
            return;
        }
        var tokenFile = spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        if (tokenFile && (request.SamplesSet || request.SeqLenSet))
            throw new ArgumentException($"--calibration {spec} is a token file, used as it is (its rows are the samples); " +
                                        "--samples and --seq-len apply to text files and 'generated' only");
        if (tokenFile) return;
        SequenceLimit.Check(request.SeqLen, config, "--seq-len");
        if (spec == CalibrationLoader.Generated) MemoryEstimate.CheckGenerated(config, request.Samples, request.SeqLen, "--samples");
        else MemoryEstimate.CheckTokens(request.Samples, request.SeqLen, "--samples");
    }

    public static async Task<PruneOutcome> RunAsync(PruneRequest request, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        request = request.Validated();
        var options = request.Options;
        var dir = ModelLocator.Resolve(request.Model, out var isDefault);
        if (request.Calibration is { } given && given != CalibrationLoader.Generated)
            InputFile.Require(given, "--calibration", "(or pass 'generated')");
        // Before any work: the output may not touch the model or the calibration file, and --force replaces only
        // nirvana's own output or an empty folder (OutputGuard); the writer checks the same again at the end.
        var outputDir = OutputGuard.CheckFolder(request.Output, request.Force, [dir, request.Calibration, request.ScoresFile, request.SelectionTokens]);
        using var checkpoint = Checkpoint.Open(dir);
        var config = checkpoint.Config;

        // The data the pass needs: none for magnitude/random or with saved scores.
        var needsData = options.Method.NeedsGradients() && request.ScoresFile is null;
        var spec = request.Calibration ?? (isDefault ? CalibrationLoader.Generated : null);
        if (spec is null && needsData)
            throw new ArgumentException($"--calibration is required for method {options.Method.Name()} on a model other than the default (a token file, a text file, or 'generated')");
        if (request.IsSweep && request.Gguf is not null)
            throw new ArgumentException("--gguf: a sweep writes Hugging Face folders only for now; export the model you pick with `nirvana export`");
        CheckBeforeWork(request, config, spec ?? "");
        var seeds = request.CalibrationSeeds;
        if (seeds.Count > 0)
        {
            if (!options.Method.NeedsGradients()) throw new ArgumentException($"--calibration-seeds: method {options.Method.Name()} uses no calibration data");
            if (spec!.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("--calibration-seeds draws candidate sets from a text file or 'generated'; a token file is used as given");
        }
        var identity = ModelIdentity.Of(dir);
        // Text and token files are read here; 'generated' is sampled by the model itself, through its stages, once
        // they are loaded (so a model that fits no single machine still draws its own calibration data).
        var drawsHere = needsData && seeds.Count == 0 && spec != CalibrationLoader.Generated;
        var (sequences, description) = drawsHere
            ? CalibrationLoader.Load(spec!, dir, config, request.Samples, request.SeqLen, options.Seed)
            : ([], seeds.Count > 0 ? "searched" : needsData ? "" : "none (the criterion needs no data)");
        var positions = sequences.Length > 0 ? sequences[0].Length : request.SeqLen;
        var groups = seeds.Count > 1 && !request.IsSweep ? seeds.Count : 1;
        await using var session = await ClusterSession.StartAsync(request.Cluster, dir, config, options.MicroBatchSize, positions, options.MaxInFlight, cancellation,
            sequences.Length > 0 ? sequences.Length : request.Samples, ObjectiveKinds.For(options.Method), groups);
        var pipeline = session.Pipeline;
        var source = new CalibrationSource(spec, dir, config);
        if (needsData && seeds.Count == 0 && spec == CalibrationLoader.Generated)
            (sequences, description) = await source.LoadAsync(pipeline, request.Samples, request.SeqLen, options.Seed, cancellation);
        if (request.IsSweep)
            return await SweepRun.RunAsync(new SweepRun.Setup(request, dir, outputDir, checkpoint.RawConfig, config, spec, sequences, description, identity,
                pipeline, new PruneJob(config, pipeline, options), checkpoint.WeightDType), clock, cancellation);

        var job = new PruneJob(config, pipeline, options);
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
            var heldOut = await SelectionSet.ResolveAsync(request, spec, dir, config, seeds, pipeline, cancellation);
            search = await CalibrationSearch.RunAsync(seeds, source, heldOut, request, config, session.Pipelines, cancellation);
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
        var extras = Extras(dir, description, seed, objective, result, pipeline.Stages, pipeline.PeakBytes);
        extras["calibration_search"] = search?.Candidates.Select(c => new { seed = c.Seed, kl = c.Kl }).ToArray();
        extras["calibration_search_held_out"] = search?.HeldOut;
        extras["scores_from"] = scoresFrom;
        var inputs = new PrunedModelWriter.Inputs(dir, checkpoint.RawConfig, result, description, extras, request.Force, request.DType ?? checkpoint.WeightDType,
            OtherInputs: OtherInputs(request), Scores: scores)
        {
            StageMemory = () => session.MemoryReportAsync(cancellation).GetAwaiter().GetResult()
                .Select(r => new Pruning.Report.PruningReport.StageMemoryRow(r.Stage, r.Assignment.FirstLayer, r.Assignment.EndLayer, r.Memory)).ToArray(),
            CalibrationSearch = search?.ReportRows,
        };
        GgufPruneOutput.Write(outputDir, request.Force, request.Gguf, target =>
            PrunedModelOutput.Write(target, inputs, pipeline, request.Cluster.SharedOutput, clock.Elapsed, cancellation));
        Log.Information("Report: {Report}", Path.Combine(outputDir, "report.md"));
        return new PruneOutcome(dir, outputDir, result.Plan, clock.Elapsed);
    }

    /// <summary>pruning-plan.json's fields beyond the plan itself.</summary>
    internal static Dictionary<string, object?> Extras(string dir, string description, int seed, double? objective, PruneResult result,
        IReadOnlyList<StageInfo> stages, IReadOnlyList<long>? peakBytes) => new()
    {
        ["model"] = dir,
        ["calibration"] = description,
        ["seed"] = seed,
        ["objective"] = objective,
        ["pipeline_idle_fraction"] = result.Calibration?.IdleFraction,
        ["stages"] = stages.Select((s, i) => new { name = s.Name, first_layer = s.Descriptor.FirstLayer, end_layer = s.Descriptor.EndLayer,
            peak_bytes = peakBytes is null ? (long?)null : peakBytes[i] }).ToArray(),
    };

    /// <summary>Files besides the model that the output may not touch.</summary>
    internal static IReadOnlyList<string>? OtherInputs(PruneRequest request)
    {
        var files = new[] { request.Calibration, request.ScoresFile, request.SelectionTokens }.Where(f => f is not null && File.Exists(f)).Select(f => f!).ToArray();
        return files.Length > 0 ? files : null;
    }
}
