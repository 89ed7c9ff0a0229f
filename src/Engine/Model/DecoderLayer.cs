using System.Numerics.Tensors;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Engine.Model;

/// <summary>
/// One Llama decoder layer, forward and backward, on a micro-batch x[B,T,D]:
///   x = x + o_proj(attention(rope(q_proj(norm1(x))), rope(k_proj(..)), v_proj(..)))
///   x = x + down_proj(silu(gate_proj(norm2(x))) * up_proj(norm2(x)))
/// </summary>
public static class DecoderLayer
{
    /// <summary>
    /// Runs the layer on x in place, recording what backward needs in <paramref name="tape"/>. A tape without
    /// workspace (<see cref="LayerTape.ForBackward"/>) borrows the normed inputs and the gated hidden buffer from
    /// <paramref name="work"/>, a full tape sized for this layer. With a <paramref name="mask"/>, removed KV groups'
    /// attention output and removed neurons' activations are zero, so the layer computes what its compaction to the
    /// kept units computes.
    /// </summary>
    public static void Forward(Span<float> x, LayerWeights w, LayerTape tape, Rope rope, float eps, int batch, int positions, LayerTape? work = null,
        LayerMask? mask = null)
    {
        int n = batch * positions, d = w.Hidden, qw = w.Heads * w.HeadDim, kvw = w.KvHeads * w.HeadDim, f = w.Ffn;
        if (x.Length != n * d) throw new ArgumentException($"x needs B*T*D = {batch}*{positions}*{d} elements", nameof(x));
        if (!tape.Fits(w, batch, positions)) throw new ArgumentException($"tape is too small for layer {w.Index} at B={batch}, T={positions}");
        var ws = tape.HasWorkspace ? tape : work ?? throw new ArgumentException($"layer {w.Index}: a backward tape needs a workspace tape", nameof(work));
        if (!ws.HasWorkspace || !ws.Fits(w, batch, positions)) throw new ArgumentException($"workspace is too small for layer {w.Index} at B={batch}, T={positions}", nameof(work));
        mask?.CheckFits(w);
        var input = tape.Input.AsSpan(0, n * d);
        var norm1 = ws.Norm1.AsSpan(0, n * d);
        var q = tape.Q.AsSpan(0, n * qw);
        var k = tape.K.AsSpan(0, n * kvw);
        var v = tape.V.AsSpan(0, n * kvw);
        var att = ws.Att.AsSpan(0, batch * w.Heads * positions * positions);
        var attnOut = ws.AttnOut.AsSpan(0, n * qw);
        var mid = tape.Mid.AsSpan(0, n * d);
        var norm2 = ws.Norm2.AsSpan(0, n * d);
        var gate = tape.Gate.AsSpan(0, n * f);
        var up = tape.Up.AsSpan(0, n * f);
        var hidden = ws.Hidden.AsSpan(0, n * f);

        x.CopyTo(input);
        RmsNorm.Forward(norm1, tape.Rstd1.AsSpan(0, n), x, w.InputLayernorm, n, d, eps);
        Linear.Forward(q, norm1, w.QProj, w.QBias, n, d, qw);
        Linear.Forward(k, norm1, w.KProj, w.KBias, n, d, kvw);
        Linear.Forward(v, norm1, w.VProj, w.VBias, n, d, kvw);
        rope.Forward(q, batch, positions, w.Heads);
        rope.Forward(k, batch, positions, w.KvHeads);
        CausalAttention.Forward(attnOut, att, q, k, v, batch, positions, w.Heads, w.KvHeads, w.HeadDim);
        if (mask is not null) UnitMask.Forward(attnOut, mask.KeptKvGroups, n, w.KvHeads, qw / w.KvHeads);
        Linear.Forward(mid, attnOut, w.OProj, w.OBias, n, qw, d);
        TensorPrimitives.Add(mid, input, mid);

        RmsNorm.Forward(norm2, tape.Rstd2.AsSpan(0, n), mid, w.PostAttentionLayernorm, n, d, eps);
        Linear.Forward(gate, norm2, w.GateProj, default, n, d, f);
        Linear.Forward(up, norm2, w.UpProj, default, n, d, f);
        SwiGlu.Forward(hidden, gate, up);
        if (mask is not null) UnitMask.Forward(hidden, mask.KeptNeurons, n, f, 1);
        Linear.Forward(x, hidden, w.DownProj, default, n, f, d);
        TensorPrimitives.Add(x, mid, x);
    }

    /// <summary>
    /// dx holds dLoss/d(layer output) on entry and dLoss/d(layer input) on return. Weight gradients accumulate
    /// into <paramref name="grad"/> when given (null: activation gradients only). <paramref name="scratch"/> is
    /// a full tape-shaped workspace distinct from <paramref name="tape"/>. The normed inputs, silu(gate) * up and
    /// the attention probabilities and output are recomputed into it, bit for bit what forward computed. The
    /// <paramref name="mask"/> must be the one the forward used (none, or the same units).
    /// </summary>
    public static void Backward(Span<float> dx, LayerWeights w, LayerTape tape, LayerGradients? grad, LayerTape scratch,
        Rope rope, int batch, int positions, LayerMask? mask = null)
    {
        int n = batch * positions, d = w.Hidden, qw = w.Heads * w.HeadDim, kvw = w.KvHeads * w.HeadDim, f = w.Ffn;
        if (dx.Length != n * d) throw new ArgumentException($"dx needs B*T*D = {batch}*{positions}*{d} elements", nameof(dx));
        if (!scratch.HasWorkspace || !scratch.Fits(w, batch, positions)) throw new ArgumentException($"scratch is too small for layer {w.Index}");
        mask?.CheckFits(w);
        var dMid = scratch.Mid.AsSpan(0, n * d);
        var dNorm = scratch.Norm2.AsSpan(0, n * d);
        var normed = scratch.Norm1.AsSpan(0, n * d);   // norm2(mid), then norm1(input), recomputed
        var dHidden = scratch.Hidden.AsSpan(0, n * f);
        var dGate = scratch.Gate.AsSpan(0, n * f);      // holds silu(gate) * up until dGate overwrites it
        var dUp = scratch.Up.AsSpan(0, n * f);
        var dAttnOut = scratch.AttnOut.AsSpan(0, n * qw);
        var dq = scratch.Q.AsSpan(0, n * qw);            // holds the recomputed attention output until dq overwrites it
        var att = scratch.Att.AsSpan(0, batch * w.Heads * positions * positions);
        var dk = scratch.K.AsSpan(0, n * kvw);
        var dv = scratch.V.AsSpan(0, n * kvw);
        var gate = tape.Gate.AsSpan(0, n * f);
        var up = tape.Up.AsSpan(0, n * f);
        var mid = tape.Mid.AsSpan(0, n * d);
        var input = tape.Input.AsSpan(0, n * d);

        // MLP branch; the residual passes dx straight through to dMid.
        dx.CopyTo(dMid);
        SwiGlu.Forward(dGate, gate, up);
        if (mask is not null) UnitMask.Forward(dGate, mask.KeptNeurons, n, f, 1);
        Linear.Backward(dHidden, grad is null ? default : grad.DownProj, default, dx, dGate, w.DownProj, n, f, d);
        if (mask is not null) UnitMask.Backward(dHidden, mask.KeptNeurons, n, f, 1);
        SwiGlu.Backward(dGate, dUp, dHidden, gate, up);
        RmsNorm.Apply(normed, mid, w.PostAttentionLayernorm, tape.Rstd2.AsSpan(0, n), n, d);
        Linear.Backward(dNorm, grad is null ? default : grad.GateProj, default, dGate, normed, w.GateProj, n, d, f);
        Linear.Backward(dNorm, grad is null ? default : grad.UpProj, default, dUp, normed, w.UpProj, n, d, f, accumulateDx: true);
        RmsNorm.Backward(dMid, grad is null ? default : grad.PostAttentionLayernorm, dNorm, mid,
            w.PostAttentionLayernorm, tape.Rstd2.AsSpan(0, n), n, d);

        // Attention branch; the residual passes dMid straight through to dx.
        dMid.CopyTo(dx);
        var q = tape.Q.AsSpan(0, n * qw);
        var k = tape.K.AsSpan(0, n * kvw);
        var v = tape.V.AsSpan(0, n * kvw);
        CausalAttention.Forward(dq, att, q, k, v, batch, positions, w.Heads, w.KvHeads, w.HeadDim);
        if (mask is not null) UnitMask.Forward(dq, mask.KeptKvGroups, n, w.KvHeads, qw / w.KvHeads);
        Linear.Backward(dAttnOut, grad is null ? default : grad.OProj, grad?.OBias, dMid, dq, w.OProj, n, qw, d);
        if (mask is not null) UnitMask.Backward(dAttnOut, mask.KeptKvGroups, n, w.KvHeads, qw / w.KvHeads);
        CausalAttention.Backward(dq, dk, dv, dAttnOut, q, k, v, att, batch, positions, w.Heads, w.KvHeads, w.HeadDim);
        rope.Backward(dq, batch, positions, w.Heads);
        rope.Backward(dk, batch, positions, w.KvHeads);
        RmsNorm.Apply(normed, input, w.InputLayernorm, tape.Rstd1.AsSpan(0, n), n, d);
        Linear.Backward(dNorm, grad is null ? default : grad.QProj, grad?.QBias, dq, normed, w.QProj, n, d, qw);
        Linear.Backward(dNorm, grad is null ? default : grad.KProj, grad?.KBias, dk, normed, w.KProj, n, d, kvw, accumulateDx: true);
        Linear.Backward(dNorm, grad is null ? default : grad.VProj, grad?.VBias, dv, normed, w.VProj, n, d, kvw, accumulateDx: true);
        RmsNorm.Backward(dx, grad is null ? default : grad.InputLayernorm, dNorm, input,
            w.InputLayernorm, tape.Rstd1.AsSpan(0, n), n, d);
    }
}
