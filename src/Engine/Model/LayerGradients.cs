namespace NirvanaCluster.Engine.Model;

/// <summary>
/// fp32 gradient accumulators for one decoder layer, one per parameter of <see cref="LayerWeights"/> under the same
/// Hugging Face name (llm.c's habit: parameters and gradients share one layout). Backward adds into them.
/// </summary>
public sealed class LayerGradients
{
    public int Index { get; private set; }
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

    private readonly (int Heads, int KvHeads, int HeadDim, int Ffn, int Hidden) _shape;

    /// <summary>Zeroed accumulators shaped like <paramref name="w"/>.</summary>
    public LayerGradients(LayerWeights w)
    {
        Index = w.Index;
        _shape = (w.Heads, w.KvHeads, w.HeadDim, w.Ffn, w.Hidden);
        int d = w.Hidden, q = w.Heads * w.HeadDim, kv = w.KvHeads * w.HeadDim, f = w.Ffn;
        InputLayernorm = new float[d];
        QProj = new float[q * d];
        KProj = new float[kv * d];
        VProj = new float[kv * d];
        OProj = new float[d * q];
        PostAttentionLayernorm = new float[d];
        GateProj = new float[f * d];
        UpProj = new float[f * d];
        DownProj = new float[d * f];
        if (w.HasBias)
        {
            QBias = new float[q];
            KBias = new float[kv];
            VBias = new float[kv];
        }
        if (w.OBias is not null) OBias = new float[d];
    }

    /// <summary>
    /// Zeroes the accumulators and takes them over for layer <paramref name="w"/> when it has the same sizes (true);
    /// a layer-at-a-time backward reuses one set instead of leaving a layer's worth of garbage per layer.
    /// </summary>
    public bool TryReuseFor(LayerWeights w)
    {
        if (_shape != (w.Heads, w.KvHeads, w.HeadDim, w.Ffn, w.Hidden) || (QBias is not null) != w.HasBias || (OBias is not null) != (w.OBias is not null))
            return false;
        Clear();
        Index = w.Index;
        return true;
    }

    /// <summary>Bytes the accumulators for a layer of these sizes take (4 per parameter).</summary>
    public static long BytesFor(LayerWeights w) => 4 * w.ParameterCount;

    public void Clear()
    {
        foreach (var t in Tensors()) Array.Clear(t.Data);
    }

    /// <summary>Every accumulator with the Hugging Face name and shape of its parameter, in checkpoint order.</summary>
    public IEnumerable<(string Name, float[] Data, long[] Shape)> Tensors()
    {
        float[]?[] data = [InputLayernorm, QProj, QBias, KProj, KBias, VProj, VBias, OProj, OBias, PostAttentionLayernorm, GateProj, UpProj, DownProj];
        var present = data.Where(a => a is not null).Select(a => a!);
        return TensorLayout.Layer(Index, _shape.Hidden, _shape.Heads, _shape.KvHeads, _shape.HeadDim, _shape.Ffn, QBias is not null, OBias is not null)
            .Zip(present, (t, a) => (t.Name, a, t.Shape));
    }
}
