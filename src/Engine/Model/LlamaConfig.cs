namespace NirvanaCluster.Engine.Model;

/// <summary>Llama-3.1 <c>rope_scaling</c> of type <c>llama3</c> (frequency-dependent interpolation).</summary>
public sealed record RopeScaling(
    string RopeType,
    float Factor,
    float LowFreqFactor,
    float HighFreqFactor,
    int OriginalMaxPositionEmbeddings);

/// <summary>
/// Shape of a Llama-family decoder (Llama-2/3/3.1/3.2, Qwen2/2.5, Mistral), mirroring Hugging Face config.json.
/// A pruned model carries per-layer sizes; <see cref="HeadsOf"/>, <see cref="KvHeadsOf"/> and <see cref="FfnOf"/>
/// answer for every layer either way.
/// Legend: D hidden width, H query heads, Hkv key/value heads, Dh head width, F MLP width, V vocabulary, L layers.
/// </summary>
public sealed record LlamaConfig
{
    public string ModelType { get; init; } = "llama";
    public required int HiddenSize { get; init; }            // D
    public required int NumHiddenLayers { get; init; }       // L
    public required int NumAttentionHeads { get; init; }     // H of the dense model
    public required int NumKeyValueHeads { get; init; }      // Hkv of the dense model
    public required int IntermediateSize { get; init; }      // F of the dense model
    public required int VocabSize { get; init; }             // V
    /// <summary>Explicit <c>head_dim</c>; null means D / H.</summary>
    public int? ExplicitHeadDim { get; init; }
    public float RmsNormEps { get; init; } = 1e-5f;
    public float RopeTheta { get; init; } = 10000f;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>q/k/v projections carry biases (Qwen2 always; Llama when <c>attention_bias</c> is true).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>o_proj carries a bias too (Llama's <c>attention_bias</c>; Qwen2 has none).</summary>
    public bool AttentionOutputBias { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }
    /// <summary>Per-layer query-head counts of a pruned model (authors' <c>modified_head_num</c>); null when dense.</summary>
    public IReadOnlyList<int>? LayerAttentionHeads { get; init; }
    /// <summary>Per-layer KV-head counts of a pruned model; null when dense.</summary>
    public IReadOnlyList<int>? LayerKeyValueHeads { get; init; }
    /// <summary>Per-layer MLP widths of a pruned model (authors' <c>modified_intermediate_dimension</c>); null when dense.</summary>
    public IReadOnlyList<int>? LayerIntermediateSizes { get; init; }

    public int HeadDim => ExplicitHeadDim ?? HiddenSize / NumAttentionHeads;
    /// <summary>Query heads per KV head (G); constant across layers because pruning removes whole KV groups.</summary>
    public int GroupSize => NumAttentionHeads / NumKeyValueHeads;
    public bool IsPruned => LayerAttentionHeads is not null || LayerIntermediateSizes is not null || LayerKeyValueHeads is not null;

    public int HeadsOf(int layer) => LayerAttentionHeads?[layer] ?? NumAttentionHeads;
    public int KvHeadsOf(int layer) => LayerKeyValueHeads?[layer] ?? (LayerAttentionHeads is { } h ? h[layer] / GroupSize : NumKeyValueHeads);
    public int FfnOf(int layer) => LayerIntermediateSizes?[layer] ?? IntermediateSize;

    /// <summary>Throws <see cref="InvalidDataException"/> naming the offending field.</summary>
    public LlamaConfig Validated(string source = "config.json")
    {
        void Require(bool ok, string field, string expected)
        {
            if (!ok) throw new InvalidDataException($"{source}: field '{field}' {expected}");
        }
        Require(HiddenSize > 0, "hidden_size", $"must be positive (got {HiddenSize})");
        Require(NumHiddenLayers > 0, "num_hidden_layers", $"must be positive (got {NumHiddenLayers})");
        Require(NumAttentionHeads > 0, "num_attention_heads", $"must be positive (got {NumAttentionHeads})");
        Require(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0, "num_key_value_heads",
            $"must be positive and divide num_attention_heads={NumAttentionHeads} (got {NumKeyValueHeads})");
        Require(IntermediateSize > 0, "intermediate_size", $"must be positive (got {IntermediateSize})");
        Require(VocabSize > 0, "vocab_size", $"must be positive (got {VocabSize})");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", $"must be positive (got {MaxPositionEmbeddings})");
        Require(BosTokenId is null || (BosTokenId >= 0 && BosTokenId < VocabSize), "bos_token_id",
            $"must be a token id within vocab_size {VocabSize}, i.e. in [0, {VocabSize}) (got {BosTokenId})");
        Require(EosTokenId is null || (EosTokenId >= 0 && EosTokenId < VocabSize), "eos_token_id",
            $"must be a token id within vocab_size {VocabSize}, i.e. in [0, {VocabSize}) (got {EosTokenId})");
        Require(ExplicitHeadDim is null or > 0, "head_dim", $"must be positive (got {ExplicitHeadDim})");
        Require(ExplicitHeadDim is not null || HiddenSize % NumAttentionHeads == 0, "hidden_size",
            $"must be divisible by num_attention_heads={NumAttentionHeads} when head_dim is absent (got {HiddenSize})");
        Require(HeadDim % 2 == 0, "head_dim", $"must be even for rotary embedding (got {HeadDim})");
        Require(RmsNormEps > 0, "rms_norm_eps", $"must be positive (got {RmsNormEps})");
        Require(RopeTheta > 0, "rope_theta", $"must be positive (got {RopeTheta})");
        if (RopeScaling is { } rs)
        {
            Require(rs.RopeType == "llama3", "rope_scaling.rope_type", $"must be 'llama3' (got '{rs.RopeType}')");
            Require(rs.Factor > 0 && rs.LowFreqFactor > 0 && rs.HighFreqFactor > rs.LowFreqFactor, "rope_scaling",
                "needs factor > 0 and high_freq_factor > low_freq_factor > 0");
            Require(rs.OriginalMaxPositionEmbeddings > 0, "rope_scaling.original_max_position_embeddings", "must be positive");
        }
        CheckPerLayer(LayerAttentionHeads, "modified_head_num", h => h > 0 && h % GroupSize == 0 && h <= NumAttentionHeads,
            $"a positive multiple of the group size {GroupSize}, at most {NumAttentionHeads}");
        CheckPerLayer(LayerKeyValueHeads, "layer_num_key_value_heads", h => h > 0 && h <= NumKeyValueHeads,
            $"between 1 and {NumKeyValueHeads}");
        CheckPerLayer(LayerIntermediateSizes, "modified_intermediate_dimension", f => f > 0 && f <= IntermediateSize,
            $"between 1 and {IntermediateSize}");
        if (LayerAttentionHeads is { } qh && LayerKeyValueHeads is { } kh)
            for (var i = 0; i < NumHiddenLayers; i++)
                Require(qh[i] == kh[i] * GroupSize, $"modified_head_num[{i}]",
                    $"must equal layer_num_key_value_heads[{i}] * {GroupSize} (got {qh[i]} and {kh[i]})");
        return this;

        void CheckPerLayer(IReadOnlyList<int>? values, string field, Func<int, bool> ok, string expected)
        {
            if (values is null) return;
            Require(values.Count == NumHiddenLayers, field, $"must have {NumHiddenLayers} entries (got {values.Count})");
            for (var i = 0; i < values.Count; i++)
                Require(ok(values[i]), $"{field}[{i}]", $"must be {expected} (got {values[i]})");
        }
    }
}
