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
    public DType DType { get; init; } = DType.F32;
    /// <summary>KL-guided calibration selection: one candidate calibration set per seed (empty: no search).</summary>
    public IReadOnlyList<int> CalibrationSeeds { get; init; } = [];
    public ClusterOptions Cluster { get; init; } = new();
    /// <summary>Also write model.gguf (llama.cpp) of this type into the output folder; null: no GGUF.</summary>
    public Engine.Gguf.GgufDType? Gguf { get; init; }

    public PruneRequest Validated()
    {
        Options.Validated();
        Cluster.Validated();
        if (string.IsNullOrWhiteSpace(Output)) throw new ArgumentException("--output: a folder is required");
        if (Samples <= 0) throw new ArgumentException($"--samples must be positive (got {Samples})");
        if (SeqLen < 2) throw new ArgumentException($"--seq-len must be at least 2 (got {SeqLen})");
        if (CalibrationSeeds.Distinct().Count() != CalibrationSeeds.Count) throw new ArgumentException("--calibration-seeds lists a seed twice");
        return this;
    }
}
