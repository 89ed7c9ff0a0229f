using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Report;

namespace NirvanaCluster.Pruning;

/// <summary>
/// Writes the pruned model folder: config.json with per-layer sizes, the weights (sharded when large) written
/// tensor by tensor as they stream in from the stages, the tokenizer files, pruning-plan.json, report.md, the
/// kept-fraction chart and (when given) the unit scores, scores.safetensors. Everything lands in a temporary folder that is moved into place only when complete.
/// </summary>
public static class PrunedModelWriter
{
    public static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer.bin", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json"];

    /// <summary>The report files are made in the temp folder under this name (with the owner's pid) before they are copied.</summary>
    public const string ReportStagingName = "nirvana-report";

    public sealed record Inputs(
        string SourceModel,
        JsonObject SourceConfig,
        PruneResult Result,
        string CalibrationDescription,
        IReadOnlyDictionary<string, object?> PlanExtras,
        bool Force,
        DType DType,
        long MaxShardBytes = CheckpointWriteOptions.DefaultMaxShardBytes,
        IReadOnlyList<string>? OtherInputs = null, // e.g. the calibration file: the output may not touch it either
        Sweep.ScoreSet? Scores = null)
    {
        /// <summary>Each stage's memory, asked for once the weights are written (so compaction counts in the peaks), for report.md.</summary>
        public Func<IReadOnlyList<PruningReport.StageMemoryRow>>? StageMemory { get; init; }

        /// <summary>The KL-guided calibration search that chose this model's calibration set, for report.md.</summary>
        public PruningReport.CalibrationSearchRows? CalibrationSearch { get; init; }
    }

    public static void Write(string output, Inputs inputs, IAsyncEnumerable<ShardTensor> tensors, TimeSpan totalElapsed) =>
        WithReportFiles(inputs, totalElapsed, (extras, finishReport) =>
        {
            var stream = new OrderedTensorStream(tensors.GetAsyncEnumerator());
            var layout = TensorLayout.Model(inputs.Result.PrunedConfig)
                .Select(t => NamedTensor.FromWeight(t.Name, t.Shape, () => stream.Next(t.Name, t.Shape))).ToList();
            // The extra files are copied after the last tensor is written: the report is completed just before.
            var last = layout[^1];
            layout[^1] = NamedTensor.FromWeight(last.Name, last.Shape, () =>
            {
                var weight = last.ProduceWeight!();
                finishReport();
                return weight;
            });
            CheckpointWriter.Write(output, inputs.Result.PrunedConfig, layout, Options(inputs, extras));
        });

    /// <summary>
    /// The cluster variant for shared storage: <paramref name="writeShards"/> has the nodes write their shard files
    /// into the staging folder and returns the weight map; the rest is assembled around them.
    /// </summary>
    public static void WriteShared(string output, Inputs inputs, Func<string, Task<IReadOnlyDictionary<string, string>>> writeShards, TimeSpan totalElapsed) =>
        WithReportFiles(inputs, totalElapsed, (extras, finishReport) =>
            CheckpointWriter.Assemble(output, inputs.Result.PrunedConfig, staging =>
            {
                var map = writeShards(staging).GetAwaiter().GetResult();
                finishReport();
                return map;
            }, Options(inputs, extras)));

    private static CheckpointWriteOptions Options(Inputs inputs, string[] extras) => new()
    {
        DType = inputs.DType,
        MaxShardBytes = inputs.MaxShardBytes,
        ExtraFiles = extras,
        OriginalConfig = inputs.SourceConfig,
        Force = inputs.Force,
        Inputs = [inputs.SourceModel, .. inputs.OtherInputs ?? []],
    };

    private static void WithReportFiles(Inputs inputs, TimeSpan totalElapsed, Action<string[], Action> write)
    {
        var plan = inputs.Result.Plan;
        var temp = Path.GetTempPath();
        StagingArea.CleanStale(temp, ReportStagingName);
        StagingArea.CleanStale(temp, "nirvana-report-", [""]); // an older version's, by age only
        var staging = Directory.CreateDirectory(StagingArea.NewPath(temp, ReportStagingName, "partial"));
        try
        {
            var planPath = Path.Combine(staging.FullName, "pruning-plan.json");
            File.WriteAllText(planPath, PlanJson.Serialize(plan, inputs.PlanExtras));
            var chartPath = Path.Combine(staging.FullName, "kept-fraction.svg");
            File.WriteAllText(chartPath, KeptFractionChart.Render(plan,
                $"Kept fraction per layer: method {plan.Method}, {plan.Allocation} allocation, sparsity {plan.Sparsity:0.##}, gamma {plan.Gamma:0.##}"));
            var reportPath = Path.Combine(staging.FullName, "report.md");
            void Report(IReadOnlyList<PruningReport.StageMemoryRow>? memory) => File.WriteAllText(reportPath, PruningReport.Render(plan,
                inputs.Result.PrunedConfig.GroupSize, inputs.SourceModel, inputs.CalibrationDescription, totalElapsed, "kept-fraction.svg", memory,
                inputs.CalibrationSearch));
            Report(null);
            var files = new List<string> { planPath, chartPath, reportPath };
            if (inputs.Scores is { } scores)
            {
                // The unit scores beside the plan: `prune --scores` replans any sparsity or gamma from them without a pass.
                var scoresPath = Path.Combine(staging.FullName, Sweep.ScoresFile.FileName);
                Sweep.ScoresFile.Write(scoresPath, scores);
                files.Add(scoresPath);
            }
            write(TokenizerFiles.Select(f => Path.Combine(inputs.SourceModel, f)).Where(File.Exists).Concat(files).ToArray(),
                () => Report(inputs.StageMemory?.Invoke()));
        }
        finally
        {
            staging.Delete(recursive: true);
        }
    }

    /// <summary>Hands the streamed tensors to the writer one at a time, checking each arrives in layout order with its shape.</summary>
    private sealed class OrderedTensorStream(IAsyncEnumerator<ShardTensor> source)
    {
        public WeightMatrix Next(string name, long[] shape)
        {
            if (!source.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                throw new InvalidDataException($"the stages streamed back fewer tensors than the pruned model has: '{name}' is missing");
            var t = source.Current;
            if (t.Name != name) throw new InvalidDataException($"expected tensor '{name}' from the stages, got '{t.Name}'");
            if (t.Shape.Length > 0 && !t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"tensor '{name}' came back with shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}]");
            var data = t.Produce();
            var expected = shape.Aggregate(1L, (a, b) => a * b);
            if (data.Length != expected)
                throw new InvalidDataException($"tensor '{name}' came back with {data.Length} values, expected {expected} for shape [{string.Join(", ", shape)}]");
            return data;
        }
    }
}
