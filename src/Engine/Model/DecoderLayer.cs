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
    /// <summary>Runs the layer on x in place, recording what backward needs in <paramref name="tape"/>.</summary>
    public static void Forward(Span<float> x, LayerWeights w, LayerTape tape, Rope rope, float eps, int batch, int positions)
    {
        int n = batch * positions, d = w.Hidden, qw = w.Heads * w.HeadDim, kvw = w.KvHeads * w.HeadDim, f = w.Ffn;
        if (x.Length != n * d) throw new ArgumentException($"x needs B*T*D = {batch}*{positions}*{d} elements", nameof(x));
        if (!tape.Fits(w, batch, positions)) throw new ArgumentException($"tape is too small for layer {w.Index} at B={batch}, T={positions}");
        var input = tape.Input.AsSpan(0, n * d);
        var norm1 = tape.Norm1.AsSpan(0, n * d);
        var q = tape.Q.AsSpan(0, n * qw);
        var k = tape.K.AsSpan(0, n * kvw);
        var v = tape.V.AsSpan(0, n * kvw);
        var att = tape.Att.AsSpan(0, batch * w.Heads * positions * positions);
        var attnOut = tape.AttnOut.AsSpan(0, n * qw);
        var mid = tape.Mid.AsSpan(0, n * d);
        var norm2 = tape.Norm2.AsSpan(0, n * d);
        var gate = tape.Gate.AsSpan(0, n * f);
        var up = tape.Up.AsSpan(0, n * f);
        var hidden = tape.Hidden.AsSpan(0, n * f);

        x.CopyTo(input);
        RmsNorm.Forward(norm1, tape.Rstd1.AsSpan(0, n), x, w.InputLayernorm, n, d, eps);
        Linear.Forward(q, norm1, w.QProj, w.QBias, n, d, qw);
        Linear.Forward(k, norm1, w.KProj, w.KBias, n, d, kvw);
        Linear.Forward(v, norm1, w.VProj, w.VBias, n, d, kvw);
        rope.Forward(q, batch, positions, w.Heads);
        rope.Forward(k, batch, positions, w.KvHeads);
        CausalAttention.Forward(attnOut, att, q, k, v, batch, positions, w.Heads, w.KvHeads, w.HeadDim);
        Linear.Forward(mid, attnOut, w.OProj, w.OBias, n, qw, d);
        TensorPrimitives.Add(mid, input, mid);

        RmsNorm.Forward(norm2, tape.Rstd2.AsSpan(0, n), mid, w.PostAttentionLayernorm, n, d, eps);
        Linear.Forward(gate, norm2, w.GateProj, default, n, d, f);
        Linear.Forward(up, norm2, w.UpProj, default, n, d, f);
        SwiGlu.Forward(hidden, gate, up);
        Linear.Forward(x, hidden, w.DownProj, default, n, f, d);
        TensorPrimitives.Add(x, mid, x);
    }

    /// <summary>
    /// dx holds dLoss/d(layer output) on entry and dLoss/d(layer input) on return. Weight gradients accumulate
    /// into <paramref name="grad"/> when given (null: activation gradients only). <paramref name="scratch"/> is
    /// a tape-shaped workspace distinct from <paramref name="tape"/>.
    /// </summary>
    public static void Backward(Span<float> dx, LayerWeights w, LayerTape tape, LayerGradients? grad, LayerTape scratch,
        Rope rope, int batch, int positions)
    {
        int n = batch * positions, d = w.Hidden, qw = w.Heads * w.HeadDim, kvw = w.KvHeads * w.HeadDim, f = w.Ffn;
        if (dx.Length != n * d) throw new ArgumentException($"dx needs B*T*D = {batch}*{positions}*{d} elements", nameof(dx));
        if (!scratch.Fits(w, batch, positions)) throw new ArgumentException($"scratch is too small for layer {w.Index}");
        var dMid = scratch.Mid.AsSpan(0, n * d);
        var dNorm = scratch.Norm2.AsSpan(0, n * d);
        var dHidden = scratch.Hidden.AsSpan(0, n * f);
        var dGate = scratch.Gate.AsSpan(0, n * f);
        var dUp = scratch.Up.AsSpan(0, n * f);
        var dAttnOut = scratch.AttnOut.AsSpan(0, n * qw);
        var dq = scratch.Q.AsSpan(0, n * qw);
        var dk = scratch.K.AsSpan(0, n * kvw);
        var dv = scratch.V.AsSpan(0, n * kvw);

        // MLP branch; the residual passes dx straight through to dMid.
        dx.CopyTo(dMid);
        Linear.Backward(dHidden, grad is null ? default : grad.DownProj, default, dx, tape.Hidden.AsSpan(0, n * f), w.DownProj, n, f, d);
        SwiGlu.Backward(dGate, dUp, dHidden, tape.Gate.AsSpan(0, n * f), tape.Up.AsSpan(0, n * f));
        var norm2 = tape.Norm2.AsSpan(0, n * d);
        Linear.Backward(dNorm, grad is null ? default : grad.GateProj, default, dGate, norm2, w.GateProj, n, d, f);
        Linear.Backward(dNorm, grad is null ? default : grad.UpProj, default, dUp, norm2, w.UpProj, n, d, f, accumulateDx: true);
        RmsNorm.Backward(dMid, grad is null ? default : grad.PostAttentionLayernorm, dNorm, tape.Mid.AsSpan(0, n * d),
            w.PostAttentionLayernorm, tape.Rstd2.AsSpan(0, n), n, d);

        // Attention branch; the residual passes dMid straight through to dx.
        dMid.CopyTo(dx);
        Linear.Backward(dAttnOut, grad is null ? default : grad.OProj, grad?.OBias, dMid, tape.AttnOut.AsSpan(0, n * qw), w.OProj, n, qw, d);
        CausalAttention.Backward(dq, dk, dv, dAttnOut, tape.Q.AsSpan(0, n * qw), tape.K.AsSpan(0, n * kvw), tape.V.AsSpan(0, n * kvw),
            tape.Att.AsSpan(0, batch * w.Heads * positions * positions), batch, positions, w.Heads, w.KvHeads, w.HeadDim);
        rope.Backward(dq, batch, positions, w.Heads);
        rope.Backward(dk, batch, positions, w.KvHeads);
        var norm1 = tape.Norm1.AsSpan(0, n * d);
        Linear.Backward(dNorm, grad is null ? default : grad.QProj, grad?.QBias, dq, norm1, w.QProj, n, d, qw);
        Linear.Backward(dNorm, grad is null ? default : grad.KProj, grad?.KBias, dk, norm1, w.KProj, n, d, kvw, accumulateDx: true);
        Linear.Backward(dNorm, grad is null ? default : grad.VProj, grad?.VBias, dv, norm1, w.VProj, n, d, kvw, accumulateDx: true);
        RmsNorm.Backward(dx, grad is null ? default : grad.InputLayernorm, dNorm, tape.Input.AsSpan(0, n * d),
            w.InputLayernorm, tape.Rstd1.AsSpan(0, n), n, d);
    }
}
