using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// Everything one `nirvana prune` needs, independent of where it came from (the command line, a Kubernetes Job
/// entry point, a test). Errors name the command-line flag a user would set.
/// </summary>
public sealed record PruneRequest
{
    /// <summary>Hugging Face model folder; null means the default model (fetched on first use).</summary>
    public string? Model { get; init; }
    /// <summary>Token file, text/JSONL file or "generated"; null means the default model's default (generated).</summary>
    public string? Calibration { get; init; }
    public int Samples { get; init; } = 32;
    public int SeqLen { get; init; } = 128;
    /// <summary>--samples / --seq-len were set on purpose (not defaults): refused with a token file, which is used as it is.</summary>
    public bool SamplesSet { get; init; }
    public bool SeqLenSet { get; init; }
    public required PruneOptions Options { get; init; }
    public required string Output { get; init; }
    public bool Force { get; init; }
    /// <summary>Storage type of the written weights; null: the input checkpoint's own (F32 when its tensors mix types).</summary>
    public DType? DType { get; init; }
    /// <summary>KL-guided calibration selection: one candidate calibration set per seed (empty: no search).</summary>
    public IReadOnlyList<int> CalibrationSeeds { get; init; } = [];
    public ClusterOptions Cluster { get; init; } = new();
    /// <summary>Also write model.gguf (llama.cpp) of this type into the output folder; null: no GGUF.</summary>
    public Engine.Gguf.GgufDType? Gguf { get; init; }
    /// <summary>A sweep: several sparsities planned from one pass (empty: just <see cref="PruneOptions.Sparsity"/>).</summary>
    public IReadOnlyList<double> Sparsities { get; init; } = [];
    /// <summary>Gamma candidates, the lowest held-out KL wins per sparsity (empty: <see cref="PruneOptions.Gamma"/> fixed).</summary>
    public IReadOnlyList<double> GammaCandidates { get; init; } = [];
    /// <summary>A scores.safetensors to plan from instead of running a calibration pass.</summary>
    public string? ScoresFile { get; init; }
    /// <summary>Held-out token file for selection and the sweep's figures (default: drawn from the calibration source).</summary>
    public string? SelectionTokens { get; init; }
    /// <summary>Held-out sequences drawn when no --selection-tokens is given.</summary>
    public int SelectionSamples { get; init; } = Cli.CalibrationSearch.HeldOutSequences;
    public bool SelectionSamplesSet { get; init; }

    /// <summary>Whether anything uses a held-out set: selection (a gamma list, calibration seeds) or a sweep's figures.</summary>
    public bool UsesHeldOut => IsSweep || CalibrationSeeds.Count > 0;

    /// <summary>A sweep writes one model per sparsity under the output folder, with sweep.json and a report.</summary>
    public bool IsSweep => Sparsities.Count > 1 || GammaCandidates.Count > 0;

    public PruneRequest Validated()
    {
        Options.Validated();
        Cluster.Validated();
        if (string.IsNullOrWhiteSpace(Output)) throw new ArgumentException("--output: a folder is required");
        if (Samples <= 0) throw new ArgumentException($"--samples must be positive (got {Samples})");
        if (SeqLen < 2) throw new ArgumentException($"--seq-len must be at least 2 (got {SeqLen})");
        if (CalibrationSeeds.Distinct().Count() != CalibrationSeeds.Count) throw new ArgumentException("--calibration-seeds lists a seed twice");
        foreach (var s in Sparsities) _ = (Options with { Sparsity = s }).Validated();
        foreach (var g in GammaCandidates) _ = (Options with { Gamma = g }).Validated();
        if (Sparsities.Distinct().Count() != Sparsities.Count) throw new ArgumentException("--sparsity lists a value twice");
        if (GammaCandidates.Distinct().Count() != GammaCandidates.Count) throw new ArgumentException("--gamma lists a value twice");
        if (SelectionSamples <= 0) throw new ArgumentException($"--selection-samples must be positive (got {SelectionSamples})");
        if (!UsesHeldOut && (SelectionTokens is not null || SelectionSamplesSet))
            throw new ArgumentException($"{(SelectionTokens is not null ? "--selection-tokens" : "--selection-samples")}: only a sweep, a --gamma list or " +
                                        "--calibration-seeds uses a held-out set; this prune has none");
        if (SelectionTokens is not null && SelectionSamplesSet)
            throw new ArgumentException("--selection-samples: the held-out set is the --selection-tokens file, so nothing is drawn; drop one of them");
        if (CalibrationSeeds.Contains(Cli.CalibrationSearch.HeldOutSeed) && SelectionTokens is null)
            throw new ArgumentException($"--calibration-seeds: {Cli.CalibrationSearch.HeldOutSeed} is the held-out set's seed; calibration must use another " +
                                        "(or pass --selection-tokens)");
        if (ScoresFile is not null && (Calibration is not null || CalibrationSeeds.Count > 0))
            throw new ArgumentException("--scores replaces the calibration pass; drop --calibration and --calibration-seeds");
        return this;
    }
}
