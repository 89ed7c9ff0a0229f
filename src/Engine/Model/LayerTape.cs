namespace NirvanaCluster.Engine.Model;

/// <summary>
/// What one layer's forward keeps for its backward, for a micro-batch of B sequences of T positions (N = B*T).
/// Allocated once per shape and reused across micro-batches. A tape made <see cref="ForBackward"/> keeps only what
/// backward cannot cheaply recompute: the normed inputs and silu(gate) * up are recomputed from Input/Mid with the
/// kept rstd and from Gate/Up, the attention probabilities and output from Q/K/V (the same operations, so the same
/// bits), which saves 2 D + F + H*Dh floats per token and B*H*T*T per micro-batch. Such a tape needs a full tape as
/// workspace in forward; a full tape is its own workspace (inference scratch).
/// </summary>
public sealed class LayerTape
{
    public float[] Input;      // [N, D]  layer input (residual stream)
    public float[] Norm1;      // [N, D]  input_layernorm output (workspace; empty on a backward tape)
    public float[] Rstd1;      // [N]
    public float[] Q;          // [N, H*Dh]   after rotary
    public float[] K;          // [N, Hkv*Dh] after rotary
    public float[] V;          // [N, Hkv*Dh]
    public float[] Att;        // [B, H, T, T] softmax probabilities (workspace; empty on a backward tape)
    public float[] AttnOut;    // [N, H*Dh]   attention output before o_proj (workspace; empty on a backward tape)
    public float[] Mid;        // [N, D]  residual after attention
    public float[] Norm2;      // [N, D]  post_attention_layernorm output (workspace; empty on a backward tape)
    public float[] Rstd2;      // [N]
    public float[] Gate;       // [N, F]
    public float[] Up;         // [N, F]
    public float[] Hidden;     // [N, F]  silu(gate) * up (workspace; empty on a backward tape)

    public int Batch { get; }
    public int Positions { get; }

    /// <summary>False for a tape made by <see cref="ForBackward"/>: forward then needs a workspace.</summary>
    public bool HasWorkspace { get; }

    public LayerTape(LayerWeights w, int batch, int positions)
        : this(w.Hidden, w.Heads, w.KvHeads, w.HeadDim, w.Ffn, batch, positions) { }

    /// <summary>Sized for the largest layer: inference reuses one tape as scratch for layers of any width.</summary>
    public LayerTape(int hidden, int heads, int kvHeads, int headDim, int ffn, int batch, int positions)
        : this(hidden, heads, kvHeads, headDim, ffn, batch, positions, workspace: true) { }

    private LayerTape(int hidden, int heads, int kvHeads, int headDim, int ffn, int batch, int positions, bool workspace)
    {
        Batch = batch;
        Positions = positions;
        HasWorkspace = workspace;
        var n = batch * positions;
        Input = new float[n * hidden];
        Norm1 = workspace ? new float[n * hidden] : [];
        Rstd1 = new float[n];
        Q = new float[n * heads * headDim];
        K = new float[n * kvHeads * headDim];
        V = new float[n * kvHeads * headDim];
        Att = workspace ? new float[batch * heads * positions * positions] : [];
        AttnOut = workspace ? new float[n * heads * headDim] : [];
        Mid = new float[n * hidden];
        Norm2 = workspace ? new float[n * hidden] : [];
        Rstd2 = new float[n];
        Gate = new float[n * ffn];
        Up = new float[n * ffn];
        Hidden = workspace ? new float[n * ffn] : [];
    }

    /// <summary>A tape that keeps only what backward needs (no workspace).</summary>
    public static LayerTape ForBackward(LayerWeights w, int batch, int positions) =>
        new(w.Hidden, w.Heads, w.KvHeads, w.HeadDim, w.Ffn, batch, positions, workspace: false);

    /// <summary>A backward tape sized for layers up to these widths.</summary>
    public static LayerTape ForBackward(int hidden, int heads, int kvHeads, int headDim, int ffn, int batch, int positions) =>
        new(hidden, heads, kvHeads, headDim, ffn, batch, positions, workspace: false);

    /// <summary>Floats a backward tape of a layer with these sizes keeps per micro-batch (the memory planner's figure).</summary>
    public static long BackwardFloats(long hidden, long heads, long kvHeads, long headDim, long ffn, long batch, long positions) =>
        batch * positions * (2 * hidden + 2 + heads * headDim + 2 * kvHeads * headDim + 2 * ffn);

    /// <summary>Floats a full tape (workspace included) of these sizes holds.</summary>
    public static long FullFloats(long hidden, long heads, long kvHeads, long headDim, long ffn, long batch, long positions) =>
        BackwardFloats(hidden, heads, kvHeads, headDim, ffn, batch, positions) + batch * positions * (2 * hidden + ffn + heads * headDim)
        + batch * heads * positions * positions;

    public bool Fits(LayerWeights w, int batch, int positions) =>
        batch * positions * w.Hidden <= Input.Length && batch * positions * w.Heads * w.HeadDim <= Q.Length
        && batch * positions * w.KvHeads * w.HeadDim <= K.Length && (!HasWorkspace || batch * w.Heads * positions * positions <= Att.Length)
        && batch * positions * w.Ffn <= Gate.Length;
}
