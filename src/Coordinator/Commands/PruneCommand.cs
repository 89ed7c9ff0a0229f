using System.CommandLine;
using System.Diagnostics;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Report;
using NirvanaCluster.Pruning.Saliency;
using Serilog;

namespace NirvanaCluster.Coordinator.Commands;

public static class PruneCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: the embedded stories15M)" };
        var calibration = new Option<string?>("--calibration") { Description = "JSON token-id file, text/JSONL file, or 'generated' (default on the default model: generated)" };
        var sparsity = new Option<double>("--sparsity") { Description = "Fraction of attention+MLP weights to remove, in (0, 1)", Required = true };
        var gamma = new Option<double>("--gamma") { Description = "Attention/MLP balance (NIRVANA's gamma; 1 prunes both pools at the same fraction)", DefaultValueFactory = _ => 3.36 };
        var method = new Option<string>("--method") { Description = "nirvana | magnitude | taylor-loss | random", DefaultValueFactory = _ => "nirvana" };
        var allocation = new Option<string>("--allocation") { Description = "global (NIRVANA's two global pools) | uniform (same fraction per layer)", DefaultValueFactory = _ => "global" };
        var samples = new Option<int>("--samples") { Description = "Calibration samples N (text or generated)", DefaultValueFactory = _ => 32 };
        var seqLen = new Option<int>("--seq-len") { Description = "Calibration sample length T in tokens", DefaultValueFactory = _ => 128 };
        var seed = new Option<int>("--seed") { Description = "Seed K for calibration sampling and the random method", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--output") { Description = "Folder for the pruned model (refused if it exists, unless --force); required unless --dry-run" };
        var force = new Option<bool>("--force") { Description = "Replace an existing output folder (only once the new one is complete)" };
        var microBatch = new Option<int>("--micro-batch") { Description = "Sequences per micro-batch in the calibration pipeline", DefaultValueFactory = _ => 4 };
        var dtype = new Option<string>("--dtype") { Description = "Storage type of the written weights: f32 | bf16 | f16 | input (default: the input checkpoint's own, F32 when its tensors mix types)", DefaultValueFactory = _ => "input" };
        var calibrationSeeds = new Option<int[]>("--calibration-seeds")
        {
            Description = "KL-guided calibration selection: prune with a calibration set drawn per seed, keep the one whose pruned model has the lowest KL to the dense model on a fixed held-out set (in-process; text or generated calibration)",
            AllowMultipleArgumentsPerToken = true,
        };
        var cluster = new ClusterFlags();
        var memory = new MemoryFlags(planning: true);
        var command = new Command("prune", "Prune a model with NIRVANA (or a baseline criterion) and write the smaller checkpoint")
        {
            model, calibration, sparsity, gamma, method, allocation, samples, seqLen, seed, output, force, microBatch, dtype,
        };
        command.Options.Add(calibrationSeeds);
        cluster.AddTo(command);
        memory.AddTo(command);
        CliHost.SetHandler(command, async (parse, cancellation) =>
        {
            var clock = Stopwatch.StartNew();
            var options = new PruneOptions
            {
                Sparsity = parse.GetValue(sparsity),
                Gamma = parse.GetValue(gamma),
                Method = PruningMethods.Parse(parse.GetValue(method)!),
                Allocation = ParseAllocation(parse.GetValue(allocation)!),
                Seed = parse.GetValue(seed),
                MicroBatchSize = parse.GetValue(microBatch),
            }.Validated();
            var dtypeText = parse.GetValue(dtype)!;
            var followInput = dtypeText.Equals("input", StringComparison.OrdinalIgnoreCase);
            if (!followInput) ParseDType(dtypeText); // refuse a bad value before any work
            var clusterOptions = memory.Apply(cluster.Read(parse), parse);
            if (memory.DryRun(parse))
                return DryRun.Run(new DryRun.Request(ModelLocator.Resolve(parse.GetValue(model)), clusterOptions, memory.PlanNodes(parse),
                    new PassShape(options.MicroBatchSize, parse.GetValue(seqLen), parse.GetValue(samples), options.MaxInFlight, ObjectiveKinds.For(options.Method))), Console.Out);
            memory.PlanNodes(parse); // refused without --dry-run
            var outputDir = Path.GetFullPath(parse.GetValue(output) ?? throw new ArgumentException("--output is required (unless --dry-run)"));
            if (Directory.Exists(outputDir) && !parse.GetValue(force))
                throw new ArgumentException($"--output: folder '{outputDir}' already exists; pass --force to replace it");
            var modelArg = parse.GetValue(model);
            var dir = ModelLocator.Resolve(modelArg, out var isDefault);
            if (Path.GetFullPath(dir).TrimEnd('/') == outputDir.TrimEnd('/')) throw new ArgumentException("--output must differ from --model");
            using var checkpoint = Checkpoint.Open(dir);
            var config = checkpoint.Config;
            var storage = followInput ? checkpoint.WeightDType : ParseDType(dtypeText);

            var spec = parse.GetValue(calibration) ?? (isDefault ? CalibrationLoader.Generated
                : throw new ArgumentException("--calibration is required for a model other than the default (a token file, a text file, or 'generated')"));
            if (spec == CalibrationLoader.Generated && !clusterOptions.InProcess && options.Method.NeedsGradients())
                throw new ArgumentException("--calibration generated samples from the whole model in one process; with nodes, give a token or text file (see `nirvana sample`)");
            var seeds = parse.GetValue(calibrationSeeds) ?? [];
            if (seeds.Length > 0)
            {
                if (!clusterOptions.InProcess) throw new ArgumentException("--calibration-seeds compares pruned models in this process; it cannot be combined with nodes");
                if (!options.Method.NeedsGradients()) throw new ArgumentException($"--calibration-seeds: method {options.Method.Name()} uses no calibration data");
                if (spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                    throw new ArgumentException("--calibration-seeds draws candidate sets from a text file or 'generated'; a token file is used as given");
            }
            var (sequences, description) = options.Method.NeedsGradients() && seeds.Length == 0
                ? CalibrationLoader.Load(spec, dir, config, parse.GetValue(samples), parse.GetValue(seqLen), options.Seed)
                : ([], seeds.Length > 0 ? "searched" : "none (the criterion needs no data)");

            var positions = sequences.Length > 0 ? sequences[0].Length : parse.GetValue(seqLen);
            await using var session = await ClusterSession.StartAsync(clusterOptions, dir, config, options.MicroBatchSize, positions, options.MaxInFlight, cancellation,
                sequences.Length > 0 ? sequences.Length : parse.GetValue(samples), ObjectiveKinds.For(options.Method));
            IReadOnlyList<IStage> stages = session.Stages;
            var job = new PruneJob(config, stages, options);
            PruneResult result;
            CalibrationSearch.Outcome? search = null;
            if (seeds.Length > 0)
            {
                search = await CalibrationSearch.RunAsync(seeds, spec, dir, config, parse.GetValue(samples), parse.GetValue(seqLen), stages, options, cancellation);
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
                ["stages"] = stages.Select(s => new { name = s.Name, first_layer = s.Descriptor.FirstLayer, end_layer = s.Descriptor.EndLayer }).ToArray(),
            };
            var inputs = new PrunedModelWriter.Inputs(dir, checkpoint.RawConfig, result, description, extras, parse.GetValue(force), storage)
            {
                StageMemory = () => session.MemoryReportAsync(cancellation).GetAwaiter().GetResult()
                    .Select(r => new PruningReport.StageMemoryRow(r.Stage, r.Assignment.FirstLayer, r.Assignment.EndLayer, r.Memory)).ToArray(),
            };
            if (clusterOptions.SharedOutput)
                PrunedModelWriter.WriteShared(outputDir, inputs, staging =>
                {
                    // Each node writes its own shard file at once; the weight map names the file of every tensor.
                    var files = session.Stages.Select((stage, i) =>
                    {
                        var file = ClusterSession.ShardFileName(i, session.Stages.Count);
                        stage.SharedOutputFile = Path.Combine(staging, file);
                        stage.SharedOutputDType = storage.SafeTensorsName();
                        return (file, written: stage.CompactAsync(PruneJob.PartFor(stage.Descriptor, result.Plan), cancellation));
                    }).ToArray();
                    Task.WhenAll(files.Select(f => f.written)).GetAwaiter().GetResult();
                    return files.SelectMany(f => f.written.Result.Select(t => (t.Name, f.file))).ToDictionary(p => p.Name, p => p.file);
                }, clock.Elapsed);
            else
                PrunedModelWriter.Write(outputDir, inputs, job.CompactAsync(result.Plan, cancellation), clock.Elapsed);
            var plan = result.Plan;
            Console.Out.WriteLine($"pruned {dir} -> {outputDir}: attention+MLP weights {plan.ProjectionSparsity:P1} removed, " +
                                  $"parameters {plan.ParametersBefore:N0} -> {plan.ParametersAfter:N0} ({1 - (double)plan.ParametersAfter / plan.ParametersBefore:P1} fewer), " +
                                  $"KV groups {plan.Layers.Sum(l => l.KvGroupsBefore)} -> {plan.KeptKvGroups}, MLP neurons {plan.Layers.Sum(l => l.NeuronsBefore)} -> {plan.KeptNeurons}, {clock.Elapsed.TotalSeconds:F1} s");
            Log.Information("Report: {Report}", Path.Combine(outputDir, "report.md"));
            return 0;
        });
        return command;
    }

    public static AllocationMode ParseAllocation(string value) => value.ToLowerInvariant() switch
    {
        "global" => AllocationMode.Global,
        "uniform" => AllocationMode.Uniform,
        _ => throw new ArgumentException($"--allocation: unknown value '{value}', expected global or uniform"),
    };

    public static DType ParseDType(string value) => value.ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        "f16" or "float16" => DType.F16,
        _ => throw new ArgumentException($"--dtype: unknown value '{value}', expected f32, bf16 or f16"),
    };
}
