using System.Text.Json.Nodes;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>How <see cref="CheckpointWriter"/> lays out a checkpoint.</summary>
public sealed record CheckpointWriteOptions
{
    /// <summary>Hugging Face's default shard size in <c>save_pretrained</c> for large models.</summary>
    public const long DefaultMaxShardBytes = 2L << 30;

    /// <summary>A shard is closed before a tensor would take it past this size (a larger tensor gets a shard of its own).</summary>
    public long MaxShardBytes { get; init; } = DefaultMaxShardBytes;

    /// <summary>Storage type of the weights: F32, BF16 or F16 (narrowing rounds to nearest even).</summary>
    public DType DType { get; init; } = DType.F32;

    /// <summary>Files copied beside the weights under their own names (tokenizer.json, tokenizer_config.json, ...).</summary>
    public IReadOnlyList<string> ExtraFiles { get; init; } = [];

    /// <summary>The source model's config.json; its fields the config does not model are preserved.</summary>
    public JsonObject? OriginalConfig { get; init; }

    /// <summary>
    /// Replace an existing output folder (only once the new one is complete, and only when it is empty or holds
    /// <see cref="OutputGuard.MarkerFileName"/>: a folder this program wrote).
    /// </summary>
    public bool Force { get; init; }

    /// <summary>Files and folders read to make this checkpoint (the source model): the output may not equal, contain or lie inside them.</summary>
    public IReadOnlyList<string> Inputs { get; init; } = [];

    public CheckpointWriteOptions Validated()
    {
        if (MaxShardBytes <= 0)
            throw new ArgumentException($"{nameof(MaxShardBytes)} must be positive (got {MaxShardBytes})");
        if (!DType.IsReadableAsFloat32())
            throw new ArgumentException($"{nameof(DType)} must be F32, BF16 or F16 (got {DType.SafeTensorsName()})");
        return this;
    }
}
