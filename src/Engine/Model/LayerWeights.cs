namespace NirvanaCluster.Engine.Model;

/// <summary>
/// One decoder layer's parameters, named as in Hugging Face (<c>model.layers.{i}.*</c>). Linear weights are
/// [out, in]. The same type holds gradients (llm.c's habit: parameters and their gradients share one layout).
/// </summary>
public sealed class LayerWeights
{
    public int Index { get; }
    public int Hidden { get; }   // D
    public int Heads { get; }    // H of this layer
    public int KvHeads { get; }  // Hkv of this layer
    public int HeadDim { get; }  // Dh
    public int Ffn { get; }      // F of this layer

    public float[] InputLayernorm { get; }          // [D]
    public float[] QProj { get; }                   // [H*Dh, D]
    public float[]? QBias { get; }                  // [H*Dh]
    public float[] KProj { get; }                   // [Hkv*Dh, D]
    public float[]? KBias { get; }                  // [Hkv*Dh]
    public float[] VProj { get; }                   // [Hkv*Dh, D]
    public float[]? VBias { get; }                  // [Hkv*Dh]
    public float[] OProj { get; }                   // [D, H*Dh]
    public float[]? OBias { get; }                  // [D]
    public float[] PostAttentionLayernorm { get; }  // [D]
    public float[] GateProj { get; }                // [F, D]
    public float[] UpProj { get; }                  // [F, D]
    public float[] DownProj { get; }                // [D, F]

    public bool HasBias => QBias is not null;

    public LayerWeights(int index, int hidden, int heads, int kvHeads, int headDim, int ffn, bool bias, bool outputBias = false)
    {
        Index = index; Hidden = hidden; Heads = heads; KvHeads = kvHeads; HeadDim = headDim; Ffn = ffn;
        InputLayernorm = new float[hidden];
        QProj = new float[heads * headDim * hidden];
        KProj = new float[kvHeads * headDim * hidden];
        VProj = new float[kvHeads * headDim * hidden];
        OProj = new float[hidden * heads * headDim];
        PostAttentionLayernorm = new float[hidden];
        GateProj = new float[ffn * hidden];
        UpProj = new float[ffn * hidden];
        DownProj = new float[hidden * ffn];
        if (bias)
        {
            QBias = new float[heads * headDim];
            KBias = new float[kvHeads * headDim];
            VBias = new float[kvHeads * headDim];
        }
        if (outputBias) OBias = new float[hidden];
    }

    public static LayerWeights ForConfig(LlamaConfig config, int layer) =>
        new(layer, config.HiddenSize, config.HeadsOf(layer), config.KvHeadsOf(layer), config.HeadDim, config.FfnOf(layer),
            config.AttentionBias, config.AttentionOutputBias);

    /// <summary>A zeroed twin with the same shapes: the gradient accumulator.</summary>
    public LayerWeights ZerosLike() => new(Index, Hidden, Heads, KvHeads, HeadDim, Ffn, HasBias, OBias is not null);

    public long ParameterCount => Tensors().Sum(t => (long)t.Data.Length);

    public void Clear()
    {
        foreach (var t in Tensors()) Array.Clear(t.Data);
    }

    /// <summary>Every tensor with its Hugging Face name and shape, in checkpoint order.</summary>
    public IEnumerable<(string Name, float[] Data, long[] Shape)> Tensors()
    {
        float[]?[] data = [InputLayernorm, QProj, QBias, KProj, KBias, VProj, VBias, OProj, OBias, PostAttentionLayernorm, GateProj, UpProj, DownProj];
        var present = data.Where(a => a is not null).Select(a => a!);
        return TensorLayout.Layer(Index, Hidden, Heads, KvHeads, HeadDim, Ffn, HasBias, OBias is not null)
            .Zip(present, (t, a) => (t.Name, a, t.Shape));
    }
}
