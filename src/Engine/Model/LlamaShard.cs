using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Ops;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>
/// A contiguous range of decoder layers [FirstLayer, EndLayer), with the token embedding when it starts the
/// model and the final norm + lm_head when it ends it. A whole model is the shard [0, L) with both ends; a
/// cluster node holds one shard and passes activations x[B,T,D] to the next.
/// </summary>
public sealed class LlamaShard
{
    public LlamaConfig Config { get; }
    public int FirstLayer { get; }
    public int EndLayer => FirstLayer + Layers.Count;
    public IReadOnlyList<LayerWeights> Layers { get; }
    public WeightMatrix? EmbedTokens { get; }  // [V, D] model.embed_tokens.weight, at checkpoint precision
    public float[]? FinalNorm { get; }         // [D]    model.norm.weight
    public WeightMatrix? LmHead { get; }       // [V, D] lm_head.weight (the embedding itself when tied)

    public bool HasEmbedding => EmbedTokens is not null;
    public bool HasHead => LmHead is not null;
    public int Hidden => Config.HiddenSize;
    public int Vocab => Config.VocabSize;

    private Rope? _rope;

    public LlamaShard(LlamaConfig config, int firstLayer, IReadOnlyList<LayerWeights> layers,
        WeightMatrix? embedTokens, float[]? finalNorm, WeightMatrix? lmHead)
    {
        Config = config;
        FirstLayer = firstLayer;
        Layers = layers;
        EmbedTokens = embedTokens;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        if (firstLayer < 0 || EndLayer > config.NumHiddenLayers)
            throw new ArgumentException($"layer range [{firstLayer}, {EndLayer}) is outside the model's {config.NumHiddenLayers} layers");
        for (var i = 0; i < layers.Count; i++)
            if (layers[i].Index != firstLayer + i) throw new ArgumentException($"layer {i} of the shard has index {layers[i].Index}, expected {firstLayer + i}");
        if ((finalNorm is null) != (lmHead is null)) throw new ArgumentException("final norm and lm_head come together");
        foreach (var (name, w) in new[] { ("model.embed_tokens.weight", embedTokens), ("lm_head.weight", lmHead) })
            if (w is not null && (w.Rows != config.VocabSize || w.Cols != config.HiddenSize))
                throw new ArgumentException($"{name} is {w}, expected [{config.VocabSize}, {config.HiddenSize}]");
        if (finalNorm is not null && finalNorm.Length != config.HiddenSize)
            throw new ArgumentException($"model.norm.weight has {finalNorm.Length} values, expected {config.HiddenSize}");
    }

    /// <summary>Rotary tables cover the longest sequence seen so far.</summary>
    public Rope RopeFor(int positions)
    {
        var rope = _rope;
        if (rope is null || rope.MaxPositions < positions)
            _rope = rope = new Rope(Config, Math.Max(positions, rope?.MaxPositions ?? 0));
        return rope;
    }

    public long ParameterCount =>
        Layers.Sum(l => l.ParameterCount) + (EmbedTokens?.Length ?? 0) + (FinalNorm?.Length ?? 0)
        + (LmHead is not null && !ReferenceEquals(LmHead, EmbedTokens) ? LmHead.Length : 0);

    /// <summary>Bytes the shard's weights take as held (a tied head counted once).</summary>
    public long HeldBytes =>
        Layers.Sum(l => l.HeldBytes) + (EmbedTokens?.ByteLength ?? 0) + 4L * (FinalNorm?.Length ?? 0)
        + (LmHead is not null && !ReferenceEquals(LmHead, EmbedTokens) ? LmHead.ByteLength : 0);

    /// <summary>
    /// The same shard with every matrix held as <paramref name="storage"/> (a full copy; a tied head stays tied).
    /// Holding BF16 weights as F32 is how the results of the two holdings are compared.
    /// </summary>
    public LlamaShard HeldAs(DType storage)
    {
        var embed = EmbedTokens?.ConvertTo(storage);
        var head = LmHead is null ? null : ReferenceEquals(LmHead, EmbedTokens) && embed is not null ? embed : LmHead.ConvertTo(storage);
        return new LlamaShard(Config, FirstLayer, Layers.Select(l => l.HeldAs(storage)).ToArray(), embed, FinalNorm, head);
    }

    /// <summary>x[N,D] = embedding of ids[N].</summary>
    public void Embed(Span<float> x, ReadOnlySpan<int> ids)
    {
        var wte = EmbedTokens ?? throw new InvalidOperationException($"shard [{FirstLayer}, {EndLayer}) does not hold the embedding");
        Embedding.Forward(x, ids, wte, Vocab, Hidden);
    }

    /// <summary>One backward tape per layer (no workspace: forward borrows the scratch's), for a forward whose backward follows.</summary>
    public LayerTape[] CreateTapes(int batch, int positions) => Layers.Select(l => LayerTape.ForBackward(l, batch, positions)).ToArray();

    /// <summary>A tape sized for the widest layer: the scratch of inference forwards and of backward.</summary>
    public LayerTape CreateScratch(int batch, int positions) => new(Hidden,
        Layers.Count == 0 ? 1 : Layers.Max(l => l.Heads), Layers.Count == 0 ? 1 : Layers.Max(l => l.KvHeads), Config.HeadDim,
        Layers.Count == 0 ? 1 : Layers.Max(l => l.Ffn), batch, positions);

    /// <summary>
    /// Runs every layer on x[B,T,D] in place. With tapes (one per layer) backward can follow; with a scratch only
    /// inference. The scratch (a full tape for the widest layer) is also the tapes' workspace; one is made when absent.
    /// With masks (one per layer of the shard, an entry may be null) removed units are silenced.
    /// </summary>
    public void ForwardLayers(Span<float> x, int batch, int positions, LayerTape[]? tapes = null, LayerTape? scratch = null,
        IReadOnlyList<LayerMask?>? masks = null)
    {
        if (tapes is not null && tapes.Length != Layers.Count) throw new ArgumentException($"need {Layers.Count} tapes, got {tapes.Length}");
        if (masks is not null && masks.Count != Layers.Count) throw new ArgumentException($"need {Layers.Count} layer masks, got {masks.Count}");
        if (scratch is null && (tapes is null || tapes.Any(t => !t.HasWorkspace))) scratch = CreateScratch(batch, positions);
        var rope = RopeFor(positions);
        for (var i = 0; i < Layers.Count; i++)
            DecoderLayer.Forward(x, Layers[i], tapes?[i] ?? scratch!, rope, Config.RmsNormEps, batch, positions, scratch, masks?[i]);
    }

    /// <summary>
    /// dx: gradient w.r.t. the shard's output on entry, w.r.t. its input on return. Weight gradients accumulate
    /// into grads[i] where given (an entry or the whole array may be null).
    /// </summary>
    public void BackwardLayers(Span<float> dx, int batch, int positions, LayerTape[] tapes, LayerGradients?[]? grads, LayerTape scratch)
    {
        var rope = RopeFor(positions);
        for (var i = Layers.Count - 1; i >= 0; i--)
            DecoderLayer.Backward(dx, Layers[i], tapes[i], grads?[i], scratch, rope, batch, positions);
    }

    /// <summary>y[N,D] = model.norm(x); rstd[N] kept for backward (may be empty).</summary>
    public void FinalNormForward(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, int rows)
    {
        var w = FinalNorm ?? throw new InvalidOperationException($"shard [{FirstLayer}, {EndLayer}) does not hold the final norm");
        RmsNorm.Forward(y, rstd, x, w, rows, Hidden, Config.RmsNormEps);
    }

    /// <summary>dx[N,D] accumulates the gradient through the final norm.</summary>
    public void FinalNormBackward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> rstd, int rows)
    {
        var w = FinalNorm ?? throw new InvalidOperationException("shard does not hold the final norm");
        RmsNorm.Backward(dx, default, dy, x, w, rstd, rows, Hidden);
    }

    /// <summary>logits[rows, V] = normed[rows, D] lm_head^T.</summary>
    public void Logits(Span<float> logits, ReadOnlySpan<float> normed, int rows)
    {
        var head = LmHead ?? throw new InvalidOperationException($"shard [{FirstLayer}, {EndLayer}) does not hold lm_head");
        Gemm.SgemmWeight(false, true, rows, Vocab, Hidden, 1f, normed, Hidden, head, 0f, logits, Vocab);
    }

    /// <summary>dNormed[rows, D] (assigned) = dLogits[rows, V] lm_head.</summary>
    public void LogitsBackward(Span<float> dNormed, ReadOnlySpan<float> dLogits, int rows)
    {
        var head = LmHead ?? throw new InvalidOperationException("shard does not hold lm_head");
        Gemm.SgemmWeight(false, false, rows, Hidden, Vocab, 1f, dLogits, Vocab, head, 0f, dNormed, Hidden);
    }

    /// <summary>Every tensor of the shard with its Hugging Face name and shape (lm_head omitted when tied).</summary>
    public IEnumerable<(string Name, WeightMatrix Data, long[] Shape)> Tensors()
    {
        long v = Vocab, d = Hidden;
        if (EmbedTokens is not null) yield return ("model.embed_tokens.weight", EmbedTokens, [v, d]);
        foreach (var layer in Layers)
            foreach (var t in layer.Tensors()) yield return t;
        if (FinalNorm is not null) yield return ("model.norm.weight", WeightMatrix.Wrap(FinalNorm, 1, FinalNorm.Length), [d]);
        if (LmHead is not null && !Config.TieWordEmbeddings) yield return ("lm_head.weight", LmHead, [v, d]);
    }
}
