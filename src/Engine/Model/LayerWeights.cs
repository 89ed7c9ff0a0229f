using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>
/// One decoder layer's parameters, named as in Hugging Face (<c>model.layers.{i}.*</c>). Linear weights are
/// [out, in] and held at checkpoint precision (<see cref="WeightMatrix"/>); norms and biases are tiny and held as fp32.
/// Gradients have their own fp32 type, <see cref="LayerGradients"/>, with the same names.
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
    public WeightMatrix QProj { get; }              // [H*Dh, D]
    public float[]? QBias { get; }                  // [H*Dh]
    public WeightMatrix KProj { get; }              // [Hkv*Dh, D]
    public float[]? KBias { get; }                  // [Hkv*Dh]
    public WeightMatrix VProj { get; }              // [Hkv*Dh, D]
    public float[]? VBias { get; }                  // [Hkv*Dh]
    public WeightMatrix OProj { get; }              // [D, H*Dh]
    public float[]? OBias { get; }                  // [D]
    public float[] PostAttentionLayernorm { get; }  // [D]
    public WeightMatrix GateProj { get; }           // [F, D]
    public WeightMatrix UpProj { get; }             // [F, D]
    public WeightMatrix DownProj { get; }           // [D, F]

    public bool HasBias => QBias is not null;

    /// <summary>Zeroed parameters; the projections are held as <paramref name="storage"/>.</summary>
    public LayerWeights(int index, int hidden, int heads, int kvHeads, int headDim, int ffn, bool bias, bool outputBias = false,
        DType storage = DType.F32)
        : this(index, hidden, heads, kvHeads, headDim, ffn,
            new float[hidden], WeightMatrix.Allocate(storage, heads * headDim, hidden), bias ? new float[heads * headDim] : null,
            WeightMatrix.Allocate(storage, kvHeads * headDim, hidden), bias ? new float[kvHeads * headDim] : null,
            WeightMatrix.Allocate(storage, kvHeads * headDim, hidden), bias ? new float[kvHeads * headDim] : null,
            WeightMatrix.Allocate(storage, hidden, heads * headDim), outputBias ? new float[hidden] : null,
            new float[hidden], WeightMatrix.Allocate(storage, ffn, hidden), WeightMatrix.Allocate(storage, ffn, hidden),
            WeightMatrix.Allocate(storage, hidden, ffn))
    {
    }

    /// <summary>A layer from existing tensors (shapes checked against the sizes).</summary>
    public LayerWeights(int index, int hidden, int heads, int kvHeads, int headDim, int ffn,
        float[] inputLayernorm, WeightMatrix qProj, float[]? qBias, WeightMatrix kProj, float[]? kBias,
        WeightMatrix vProj, float[]? vBias, WeightMatrix oProj, float[]? oBias,
        float[] postAttentionLayernorm, WeightMatrix gateProj, WeightMatrix upProj, WeightMatrix downProj)
    {
        Index = index; Hidden = hidden; Heads = heads; KvHeads = kvHeads; HeadDim = headDim; Ffn = ffn;
        int q = heads * headDim, kv = kvHeads * headDim;
        InputLayernorm = Vector(inputLayernorm, hidden, "input_layernorm");
        QProj = Matrix(qProj, q, hidden, "q_proj");
        KProj = Matrix(kProj, kv, hidden, "k_proj");
        VProj = Matrix(vProj, kv, hidden, "v_proj");
        OProj = Matrix(oProj, hidden, q, "o_proj");
        PostAttentionLayernorm = Vector(postAttentionLayernorm, hidden, "post_attention_layernorm");
        GateProj = Matrix(gateProj, ffn, hidden, "gate_proj");
        UpProj = Matrix(upProj, ffn, hidden, "up_proj");
        DownProj = Matrix(downProj, hidden, ffn, "down_proj");
        if ((qBias is null) != (kBias is null) || (qBias is null) != (vBias is null))
            throw new ArgumentException($"layer {index}: q/k/v biases come together");
        QBias = qBias is null ? null : Vector(qBias, q, "q_proj.bias");
        KBias = kBias is null ? null : Vector(kBias, kv, "k_proj.bias");
        VBias = vBias is null ? null : Vector(vBias, kv, "v_proj.bias");
        OBias = oBias is null ? null : Vector(oBias, hidden, "o_proj.bias");

        float[] Vector(float[] v, int length, string name) =>
            v.Length == length ? v : throw new ArgumentException($"layer {index} {name} has {v.Length} values, expected {length}");
        WeightMatrix Matrix(WeightMatrix w, int rows, int cols, string name) =>
            w.Rows == rows && w.Cols == cols ? w : throw new ArgumentException($"layer {index} {name} is {w}, expected [{rows}, {cols}]");
    }

    public static LayerWeights ForConfig(LlamaConfig config, int layer, DType storage = DType.F32) =>
        new(layer, config.HiddenSize, config.HeadsOf(layer), config.KvHeadsOf(layer), config.HeadDim, config.FfnOf(layer),
            config.AttentionBias, config.AttentionOutputBias, storage);

    public long ParameterCount => Tensors().Sum(t => t.Data.Length);

    /// <summary>Bytes the layer holds (projections at their dtype, norms and biases as fp32).</summary>
    public long HeldBytes => Tensors().Sum(t => t.Data.ByteLength);

    /// <summary>The same layer with its projections held as <paramref name="storage"/> (norms and biases shared).</summary>
    public LayerWeights HeldAs(DType storage) => new(Index, Hidden, Heads, KvHeads, HeadDim, Ffn,
        InputLayernorm, QProj.ConvertTo(storage), QBias, KProj.ConvertTo(storage), KBias, VProj.ConvertTo(storage), VBias,
        OProj.ConvertTo(storage), OBias, PostAttentionLayernorm, GateProj.ConvertTo(storage), UpProj.ConvertTo(storage), DownProj.ConvertTo(storage));

    /// <summary>
    /// Every tensor with its Hugging Face name and shape, in checkpoint order. Norms and biases appear as one-row fp32
    /// matrices sharing their arrays.
    /// </summary>
    public IEnumerable<(string Name, WeightMatrix Data, long[] Shape)> Tensors()
    {
        WeightMatrix? Row(float[]? v) => v is null ? null : WeightMatrix.Wrap(v, 1, v.Length);
        WeightMatrix?[] data = [Row(InputLayernorm), QProj, Row(QBias), KProj, Row(KBias), VProj, Row(VBias), OProj, Row(OBias),
            Row(PostAttentionLayernorm), GateProj, UpProj, DownProj];
        var present = data.Where(a => a is not null).Select(a => a!);
        return TensorLayout.Layer(Index, Hidden, Heads, KvHeads, HeadDim, Ffn, HasBias, OBias is not null)
            .Zip(present, (t, a) => (t.Name, a, t.Shape));
    }
}
