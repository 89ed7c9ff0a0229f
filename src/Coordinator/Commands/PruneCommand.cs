using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Coordinator.Run;
using NirvanaCluster.Engine;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Coordinator.Commands;

public static class PruneCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: stories15M, downloaded and converted on first use)" };
        var calibration = new Option<string?>("--calibration") { Description = "JSON token-id file, text/JSONL file, or 'generated' (default on the default model: generated)" };
        var sweep = new SweepFlags();
        var method = new Option<string>("--method") { Description = "nirvana | magnitude | taylor-loss | random", DefaultValueFactory = _ => "nirvana" };
        var allocation = new Option<string>("--allocation") { Description = "global (NIRVANA's two global pools) | uniform (same fraction per layer)", DefaultValueFactory = _ => "global" };
        var samples = NumberOption.Int("--samples", "Calibration samples N (text or generated)", 32);
        var seqLen = NumberOption.Int("--seq-len", "Calibration sample length T in tokens (text or generated; a token file's rows are used as they are)", 128);
        var seed = NumberOption.Int("--seed", "Seed K for calibration sampling and the random method", 0);
        var output = new Option<string?>("--output") { Description = "Folder for the pruned model, or for a sweep's models and report (refused if it exists, unless --force); required unless --dry-run" };
        var force = new Option<bool>("--force") { Description = "Replace an existing output folder that nirvana wrote (or an empty one), only once the new one is complete; never any other folder" };
        var microBatch = NumberOption.Int("--micro-batch", "Sequences per micro-batch in the calibration pipeline", 4);
        var dtype = new Option<string>("--dtype") { Description = "Storage type of the written weights: f32 | bf16 | f16 | input (default: the input checkpoint's own, F32 when its tensors mix types)", DefaultValueFactory = _ => "input" };
        var calibrationSeeds = NumberOption.Ints("--calibration-seeds",
            "KL-guided calibration selection: prune with a calibration set drawn per seed, keep the one whose pruned model has the lowest KL to the dense model on a fixed held-out set (--selection-tokens or --selection-samples; text or generated calibration; with nodes, candidates run side by side)",
            allowMultipleArgumentsPerToken: true);
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout (output, parameters before/after, sparsity, ...)" };
        var mlpMultiple = NumberOption.Int("--mlp-multiple", "Round each layer's kept MLP width up to a multiple of N (8: the authors' rule; 32 suits Q8_0)", SparsityAllocator.DefaultMlpMultiple);
        var gguf = GgufPruneOutput.Flag();
        var cluster = new ClusterFlags();
        var memory = new MemoryFlags(planning: true);
        var command = new Command("prune", "Prune a model with NIRVANA (or a baseline criterion) and write the smaller checkpoint")
        {
            model, calibration, method, allocation, samples, seqLen, seed, output, force, microBatch, dtype, json,
        };
        command.Options.Add(calibrationSeeds);
        command.Options.Add(mlpMultiple);
        command.Options.Add(gguf);
        sweep.AddTo(command);
        cluster.AddTo(command);
        memory.AddTo(command);
        CliHost.SetHandler(command, async (parse, cancellation) =>
        {
            var sparsities = parse.GetValue(sweep.Sparsity) ?? [];
            if (sparsities.Length == 0) throw new ArgumentException("--sparsity needs a value");
            var (gamma, gammaCandidates) = SweepFlags.ParseGamma(parse.GetValue(sweep.Gamma));
            var dtypeText = parse.GetValue(dtype)!;
            var followInput = dtypeText.Equals("input", StringComparison.OrdinalIgnoreCase);
            if (!followInput) ParseDType(dtypeText); // refuse a bad value before any work
            var placement = memory.Apply(cluster.Read(parse), parse);
            if (memory.DryRun(parse))
                return DryRun.Run(new DryRun.Request(ModelLocator.Resolve(parse.GetValue(model)), placement, memory.PlanNodes(parse),
                    new PassShape(parse.GetValue(microBatch), parse.GetValue(seqLen), parse.GetValue(samples), 4,
                        ObjectiveKinds.For(PruningMethods.Parse(parse.GetValue(method)!)))), Console.Out);
            memory.PlanNodes(parse); // refused without --dry-run
            var request = new PruneRequest
            {
                Model = parse.GetValue(model),
                Calibration = parse.GetValue(calibration),
                Samples = parse.GetValue(samples),
                SeqLen = parse.GetValue(seqLen),
                SamplesSet = CliHost.IsGiven(parse, samples),
                SeqLenSet = CliHost.IsGiven(parse, seqLen),
                Options = new PruneOptions
                {
                    Sparsity = sparsities[0],
                    Gamma = gamma,
                    Method = PruningMethods.Parse(parse.GetValue(method)!),
                    Allocation = ParseAllocation(parse.GetValue(allocation)!),
                    Seed = parse.GetValue(seed),
                    MicroBatchSize = parse.GetValue(microBatch),
                    MlpMultiple = parse.GetValue(mlpMultiple),
                },
                Output = parse.GetValue(output) ?? throw new ArgumentException("--output is required (unless --dry-run)"),
                Force = parse.GetValue(force),
                DType = followInput ? null : ParseDType(dtypeText),
                CalibrationSeeds = parse.GetValue(calibrationSeeds) ?? [],
                Cluster = placement,
                Gguf = GgufPruneOutput.Read(parse, gguf),
                Sparsities = sparsities.Length > 1 ? sparsities : [],
                GammaCandidates = gammaCandidates,
                ScoresFile = parse.GetValue(sweep.Scores),
                SelectionTokens = parse.GetValue(sweep.SelectionTokens),
                SelectionSamples = parse.GetValue(sweep.SelectionSamples),
                SelectionSamplesSet = CliHost.IsGiven(parse, sweep.SelectionSamples),
            };
            var outcome = await PruneRun.RunAsync(request, cancellation);
            Console.Out.WriteLine(outcome.Summary);
            if (parse.GetValue(json)) JsonOutput.WriteLine(outcome.ToJson());
            return ExitCodes.Success;
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
