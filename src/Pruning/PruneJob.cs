using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Allocation;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;
using Serilog;

namespace NirvanaCluster.Pruning;

/// <summary>What a calibration pass leaves: every layer's unit scores (in layer order) and the pass's figures.</summary>
public sealed record ScoredModel(IReadOnlyList<LayerScores> Scores, PassResult? Calibration);

/// <summary>The outcome: the plan, the pruned config, and where the compacted tensors come from.</summary>
public sealed record PruneResult(PruningPlan Plan, LlamaConfig PrunedConfig, PassResult? Calibration, TimeSpan Elapsed);

/// <summary>
/// The coordinator's side of a pruning job, independent of where stages run: calibrate (gradient pass), gather
/// unit scores, allocate globally; compaction is the pipeline's (<see cref="IPipeline.CompactAsync"/>).
/// </summary>
public sealed class PruneJob(LlamaConfig config, IPipeline pipeline, PruneOptions options)
{
    private static readonly ILogger Log = Serilog.Log.ForContext<PruneJob>();

    public async Task<PruneResult> PlanAsync(IReadOnlyList<int[]> calibration, IProgress<PassProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var scored = await ScoreAsync(calibration, progress, cancellation);
        return Plan(scored.Scores, scored.Calibration, clock.Elapsed);
    }

    /// <summary>
    /// The costly half of a job: the calibration pass (for the gradient criteria) and the stages' unit scores. Any
    /// number of plans (sparsities, gammas) can then be built from the scores with <see cref="Plan"/>.
    /// </summary>
    public async Task<ScoredModel> ScoreAsync(IReadOnlyList<int[]> calibration, IProgress<PassProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        options.Validated();
        CheckStagesCoverModel();
        PassResult? pass = null;
        var objective = ObjectiveKinds.For(options.Method);
        if (objective.HasGradient())
        {
            if (calibration.Count == 0) throw new ArgumentException("the calibration set is empty");
            Log.Information("Calibration pass: {Sequences} sequences x {Positions} tokens, micro-batch {MicroBatch}, objective {Objective}",
                calibration.Count, calibration[0].Length, options.MicroBatchSize, objective);
            pass = await pipeline.RunPassAsync(calibration, options.MicroBatchSize, objective, options.MaxInFlight, progress, cancellation);
            Log.Information("Objective {Objective:G6}; pipeline idle fraction {Idle:P1}", pass.Objective, pass.IdleFraction);
            if (!double.IsFinite(pass.Objective))
                throw new InvalidDataException($"calibration pass ({calibration.Count} sequences): the {objective} objective came out " +
                                               $"{pass.Objective}; the model's logits overflow or are NaN (weights too large, or a broken checkpoint)");
        }
        return new ScoredModel(await pipeline.ScoresAsync(options.Method, options.Seed, cancellation), pass);
    }

    /// <summary>The allocation for this job's options from given scores (a pass's, or ones read back from scores.safetensors).</summary>
    public PruneResult Plan(IReadOnlyList<LayerScores> scores, PassResult? calibration, TimeSpan elapsed)
    {
        var plan = BuildPlan(config, scores, options);
        Log.Information("Plan: prune {Attention} KV groups and {Mlp} neurons; kept parameters {After:N0} of {Before:N0}",
            plan.AttentionUnitsToPrune, plan.MlpNeuronsToPrune, plan.ParametersAfter, plan.ParametersBefore);
        return new PruneResult(plan, Compactor.PrunedConfig(config, plan.Layers), calibration, elapsed);
    }

    /// <summary>The plan's entries for the layers a stage holds.</summary>
    public static IReadOnlyList<LayerPlan> PartFor(StageDescriptor stage, PruningPlan plan) =>
        plan.Layers.Where(l => l.Layer >= stage.FirstLayer && l.Layer < stage.EndLayer).ToArray();

    public static PruningPlan BuildPlan(LlamaConfig config, IReadOnlyList<LayerScores> scores, PruneOptions options)
    {
        if (scores.Count != config.NumHiddenLayers) throw new ArgumentException($"scores cover {scores.Count} layers, the model has {config.NumHiddenLayers}");
        // NaN scores would compare false everywhere and quietly decide the plan; name the first one instead.
        foreach (var s in scores)
        {
            var attention = Array.FindIndex(s.Attention, v => !double.IsFinite(v));
            var mlp = Array.FindIndex(s.Mlp, v => !double.IsFinite(v));
            if (attention >= 0 || mlp >= 0)
                throw new InvalidDataException($"layer {s.Layer}: the saliency of " + (attention >= 0 ? $"KV group {attention}" : $"MLP neuron {mlp}") +
                                               " is NaN or infinite; the calibration pass overflowed (weights too large, or a broken checkpoint)");
        }
        var allocation = SparsityAllocator.Allocate(scores, options.Sparsity, options.Gamma, config.HeadDim, config.GroupSize, options.Allocation, options.MlpMultiple);
        var layers = scores.Select((s, i) => new LayerPlan(s.Layer, s.Attention.Length, s.Mlp.Length,
            allocation.Layers[i].KeptGroups, allocation.Layers[i].KeptNeurons, s.Attention, s.Mlp)).ToArray();
        var pruned = Compactor.PrunedConfig(config, layers);
        return new PruningPlan(options.Method.Name(), options.Allocation == AllocationMode.Global ? "global" : "uniform",
            options.Sparsity, options.Gamma, allocation.Budget.Budget, allocation.Budget.AttentionUnits, allocation.Budget.MlpNeurons,
            allocation.AttentionThreshold, allocation.MlpThreshold,
            ParameterCounts.Of(config), ParameterCounts.Of(pruned), ParameterCounts.Projections(config), ParameterCounts.Projections(pruned), layers, options.MlpMultiple);
    }

    private void CheckStagesCoverModel()
    {
        var next = 0;
        var stages = pipeline.Stages;
        for (var i = 0; i < stages.Count; i++)
        {
            var d = stages[i].Descriptor;
            if (d.FirstLayer != next) throw new InvalidOperationException($"stage {stages[i].Name} starts at layer {d.FirstLayer}, expected {next}");
            if (d.HasEmbedding != (i == 0)) throw new InvalidOperationException($"stage {stages[i].Name}: only the first stage holds the embedding");
            if (d.HasHead != (i == stages.Count - 1)) throw new InvalidOperationException($"stage {stages[i].Name}: only the last stage holds lm_head");
            next = d.EndLayer;
        }
        if (next != config.NumHiddenLayers) throw new InvalidOperationException($"stages cover layers [0, {next}), the model has {config.NumHiddenLayers}");
    }
}
