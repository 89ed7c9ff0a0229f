using System.Diagnostics;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Calibration;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Saliency;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// One pruning job from request to written model: resolve the model and the calibration data, place the stages,
/// run the calibration pass (or the KL-guided search over calibration seeds), allocate, compact and write.
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
        if (!options.Method.NeedsGradients())
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
        var outputDir = OutputGuard.CheckFolder(request.Output, request.Force, [dir, request.Calibration]);
        using var checkpoint = Checkpoint.Open(dir);
        var config = checkpoint.Config;

        var spec = request.Calibration ?? (isDefault ? CalibrationLoader.Generated
            : throw new ArgumentException("--calibration is required for a model other than the default (a token file, a text file, or 'generated')"));
        if (spec == CalibrationLoader.Generated && !request.Cluster.InProcess && options.Method.NeedsGradients())
            throw new ArgumentException("--calibration generated samples from the whole model in one process; with nodes, give a token or text file (see `nirvana sample`)");
        CheckBeforeWork(request, config, spec);
        var seeds = request.CalibrationSeeds;
        if (seeds.Count > 0)
        {
            if (!request.Cluster.InProcess) throw new ArgumentException("--calibration-seeds compares pruned models in this process; it cannot be combined with nodes");
            if (!options.Method.NeedsGradients()) throw new ArgumentException($"--calibration-seeds: method {options.Method.Name()} uses no calibration data");
            if (spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("--calibration-seeds draws candidate sets from a text file or 'generated'; a token file is used as given");
        }
        var (sequences, description) = options.Method.NeedsGradients() && seeds.Count == 0
            ? CalibrationLoader.Load(spec, dir, config, request.Samples, request.SeqLen, options.Seed)
            : ([], seeds.Count > 0 ? "searched" : "none (the criterion needs no data)");

        var positions = sequences.Length > 0 ? sequences[0].Length : request.SeqLen;
        await using var session = await ClusterSession.StartAsync(request.Cluster, dir, config, options.MicroBatchSize, positions, options.MaxInFlight, cancellation);
        var pipeline = session.Pipeline;
        var job = new PruneJob(config, pipeline, options);
        PruneResult result;
        CalibrationSearch.Outcome? search = null;
        if (seeds.Count > 0)
        {
            search = await CalibrationSearch.RunAsync(seeds, spec, dir, config, request.Samples, request.SeqLen, pipeline, options, cancellation);
            result = search.Best;
            description = search.Chosen.Description + $", chosen by KL over seeds {string.Join(", ", seeds)}";
        }
        else
            using (var progress = new ProgressLine("calibration"))
                result = await job.PlanAsync(sequences, progress, cancellation);
        var extras = new Dictionary<string, object?>
        {
            ["model"] = dir,
            ["calibration"] = description,
            ["seed"] = search?.Chosen.Seed ?? options.Seed,
            ["calibration_search"] = search?.Candidates.Select(c => new { seed = c.Seed, kl = c.Kl }).ToArray(),
            ["objective"] = result.Calibration?.Objective,
            ["pipeline_idle_fraction"] = result.Calibration?.IdleFraction,
            ["stages"] = pipeline.Stages.Select((s, i) => new { name = s.Name, first_layer = s.Descriptor.FirstLayer, end_layer = s.Descriptor.EndLayer, peak_bytes = pipeline.PeakBytes[i] }).ToArray(),
        };
        var inputs = new PrunedModelWriter.Inputs(dir, checkpoint.RawConfig, result, description, extras, request.Force, request.DType,
            OtherInputs: request.Calibration is { } c && File.Exists(c) ? [c] : null);
        GgufPruneOutput.Write(outputDir, request.Force, request.Gguf, target =>
        {
            if (request.Cluster.SharedOutput)
                PrunedModelWriter.WriteShared(target, inputs, staging => pipeline.CompactIntoAsync(result.Plan, staging, request.DType, cancellation), clock.Elapsed);
            else
                PrunedModelWriter.Write(target, inputs, pipeline.CompactAsync(result.Plan, cancellation), clock.Elapsed);
        });
        Log.Information("Report: {Report}", Path.Combine(outputDir, "report.md"));
        return new PruneOutcome(dir, outputDir, result.Plan, clock.Elapsed);
    }
}
