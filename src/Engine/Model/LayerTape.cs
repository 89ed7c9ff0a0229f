namespace NirvanaCluster.Engine.Model;

/// <summary>
/// What one layer's forward keeps for its backward, for a micro-batch of B sequences of T positions (N = B*T).
/// Allocated once per shape and reused across micro-batches.
/// </summary>
public sealed class LayerTape
{
    public float[] Input;      // [N, D]  layer input (residual stream)
    public float[] Norm1;      // [N, D]  input_layernorm output
    public float[] Rstd1;      // [N]
    public float[] Q;          // [N, H*Dh]   after rotary
    public float[] K;          // [N, Hkv*Dh] after rotary
    public float[] V;          // [N, Hkv*Dh]
    public float[] Att;        // [B, H, T, T] softmax probabilities
    public float[] AttnOut;    // [N, H*Dh]   attention output before o_proj
    public float[] Mid;        // [N, D]  residual after attention
    public float[] Norm2;      // [N, D]  post_attention_layernorm output
    public float[] Rstd2;      // [N]
    public float[] Gate;       // [N, F]
    public float[] Up;         // [N, F]
    public float[] Hidden;     // [N, F]  silu(gate) * up

    public int Batch { get; }
    public int Positions { get; }

    public LayerTape(LayerWeights w, int batch, int positions)
        : this(w.Hidden, w.Heads, w.KvHeads, w.HeadDim, w.Ffn, batch, positions) { }

    /// <summary>Sized for the largest layer: inference reuses one tape as scratch for layers of any width.</summary>
    public LayerTape(int hidden, int heads, int kvHeads, int headDim, int ffn, int batch, int positions)
    {
        Batch = batch;
        Positions = positions;
        var n = batch * positions;
        Input = new float[n * hidden];
        Norm1 = new float[n * hidden];
        Rstd1 = new float[n];
        Q = new float[n * heads * headDim];
        K = new float[n * kvHeads * headDim];
        V = new float[n * kvHeads * headDim];
        Att = new float[batch * heads * positions * positions];
        AttnOut = new float[n * heads * headDim];
        Mid = new float[n * hidden];
        Norm2 = new float[n * hidden];
        Rstd2 = new float[n];
        Gate = new float[n * ffn];
        Up = new float[n * ffn];
        Hidden = new float[n * ffn];
    }

    public bool Fits(LayerWeights w, int batch, int positions) =>
        batch * positions * w.Hidden <= Input.Length && batch * positions * w.Heads * w.HeadDim <= Q.Length
        && batch * positions * w.KvHeads * w.HeadDim <= K.Length && batch * w.Heads * positions * positions <= Att.Length
        && batch * positions * w.Ffn <= Gate.Length;
}
