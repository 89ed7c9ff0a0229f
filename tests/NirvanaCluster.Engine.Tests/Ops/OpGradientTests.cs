using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using Xunit.Abstractions;
using static NirvanaCluster.Engine.Tests.GradCheck;

namespace NirvanaCluster.Engine.Tests.Ops;

/// <summary>Every op's backward against central finite differences of its forward.</summary>
public class OpGradientTests(ITestOutputHelper output)
{
    private readonly Random _rng = new(1234);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Linear_backward_matches_finite_differences(bool bias)
    {
        const int n = 5, i = 7, o = 6;
        var x = RandomArray(_rng, n * i);
        var w = RandomArray(_rng, o * i);
        var b = bias ? RandomArray(_rng, o) : [];
        var probe = RandomArray(_rng, n * o);
        double Loss()
        {
            var y = new float[n * o];
            Linear.Forward(y, x, w, b, n, i, o);
            return Project(y, probe);
        }
        var dx = new float[n * i];
        var dw = new float[o * i];
        var db = new float[b.Length];
        Linear.Backward(dx, dw, db, probe, x, w, n, i, o);
        Check("dx", x, dx, Loss, output);
        Check("dW", w, dw, Loss, output);
        if (bias) Check("db", b, db, Loss, output);
    }

    [Fact]
    public void Linear_backward_accumulates_weight_gradients_and_optionally_dx()
    {
        const int n = 3, i = 4, o = 2;
        var x = RandomArray(_rng, n * i);
        var w = RandomArray(_rng, o * i);
        var dy = RandomArray(_rng, n * o);
        var dx1 = new float[n * i];
        var dw1 = new float[o * i];
        Linear.Backward(dx1, dw1, default, dy, x, w, n, i, o);
        var dx2 = (float[])dx1.Clone();
        var dw2 = (float[])dw1.Clone();
        Linear.Backward(dx2, dw2, default, dy, x, w, n, i, o, accumulateDx: true);
        for (var k = 0; k < dw1.Length; k++) Assert.Equal(2 * dw1[k], dw2[k], 5);
        for (var k = 0; k < dx1.Length; k++) Assert.Equal(2 * dx1[k], dx2[k], 5);
    }

    [Fact]
    public void RmsNorm_backward_matches_finite_differences()
    {
        const int n = 4, d = 9;
        var x = RandomArray(_rng, n * d);
        var w = RandomArray(_rng, d, 0.2f, 1f);
        var probe = RandomArray(_rng, n * d);
        double Loss()
        {
            var y = new float[n * d];
            RmsNorm.Forward(y, new float[n], x, w, n, d, 1e-5f);
            return Project(y, probe);
        }
        var rstd = new float[n];
        RmsNorm.Forward(new float[n * d], rstd, x, w, n, d, 1e-5f);
        var dx = new float[n * d];
        var dw = new float[d];
        RmsNorm.Backward(dx, dw, probe, x, w, rstd, n, d);
        Check("dx", x, dx, Loss, output);
        Check("dw", w, dw, Loss, output);
    }

    [Fact]
    public void RmsNorm_matches_a_hand_computed_row()
    {
        // x = [3, 4]: mean(x^2) = 12.5, rstd = 1/sqrt(12.5) = 0.2828427
        var y = new float[2];
        var rstd = new float[1];
        RmsNorm.Forward(y, rstd, [3f, 4f], [1f, 2f], 1, 2, 0f);
        Assert.Equal(0.28284271f, rstd[0], 6);
        Assert.Equal(3 * 0.28284271f, y[0], 5);
        Assert.Equal(8 * 0.28284271f, y[1], 5);
    }

    [Fact]
    public void SwiGlu_backward_matches_finite_differences()
    {
        const int len = 40;
        var gate = RandomArray(_rng, len, 2f);
        var up = RandomArray(_rng, len);
        var probe = RandomArray(_rng, len);
        double Loss()
        {
            var h = new float[len];
            SwiGlu.Forward(h, gate, up);
            return Project(h, probe);
        }
        var dgate = new float[len];
        var dup = new float[len];
        SwiGlu.Backward(dgate, dup, probe, gate, up);
        Check("dgate", gate, dgate, Loss, output);
        Check("dup", up, dup, Loss, output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rope_backward_matches_finite_differences(bool llama3Scaling)
    {
        var config = TestConfigs.Tiny() with
        {
            RopeTheta = 500000f,
            RopeScaling = llama3Scaling ? new RopeScaling("llama3", 8f, 1f, 4f, 8192) : null,
        };
        const int b = 2, t = 5, heads = 3;
        var dh = config.HeadDim;
        var rope = new Rope(config, t);
        var x = RandomArray(_rng, b * t * heads * dh);
        var probe = RandomArray(_rng, x.Length);
        double Loss()
        {
            var y = (float[])x.Clone();
            rope.Forward(y, b, t, heads);
            return Project(y, probe);
        }
        var dx = (float[])probe.Clone();
        rope.Backward(dx, b, t, heads);
        Check("dx", x, dx, Loss, output);
    }

    [Fact]
    public void Rope_rotates_a_hand_computed_pair()
    {
        // Dh = 4, theta = 10000: inv_freq = [1, 0.01]. At position 1 the first pair (x0, x2) turns by 1 radian.
        var config = TestConfigs.Tiny() with { HiddenSize = 4, NumAttentionHeads = 1, NumKeyValueHeads = 1 };
        var rope = new Rope(config, 2);
        var x = new float[] { 0, 0, 0, 0, 1, 0, 0, 0 }; // position 0 then position 1, x0 = 1 at position 1
        rope.Forward(x, 1, 2, 1);
        Assert.Equal(new float[] { 0, 0, 0, 0 }, x[..4]);
        Assert.Equal(MathF.Cos(1f), x[4], 6);
        Assert.Equal(MathF.Sin(1f), x[6], 6);
        Assert.Equal(0f, x[5]);
    }

    [Fact]
    public void Llama3_scaling_matches_hand_computed_frequencies()
    {
        // Dh = 4, theta = 10000: raw inv_freq = [1, 0.01], wavelengths 2*pi and 628.3.
        // factor 8, low 1, high 4, original context 2000: low_freq_wavelen = 2000, high_freq_wavelen = 500.
        // 2*pi < 500 stays; 628.3 lies between: smooth = (2000/628.3 - 1)/3 = 0.72770, so
        // inv = (1 - smooth) * 0.01 / 8 + smooth * 0.01 = 0.00034038 + 0.00727700 = 0.0076174.
        var inv = Rope.InverseFrequencies(4, 10000, new RopeScaling("llama3", 8, 1, 4, 2000));
        Assert.Equal(1.0, inv[0], 12);
        var smooth = (2000 / (2 * Math.PI / 0.01) - 1) / 3;
        Assert.Equal((1 - smooth) * 0.01 / 8 + smooth * 0.01, inv[1], 12);
        Assert.Equal(0.0076174, inv[1], 6);
        var stretched = Rope.InverseFrequencies(4, 10000, new RopeScaling("llama3", 8, 1, 4, 200));
        Assert.Equal(0.01 / 8, stretched[1], 12); // wavelength 628 > 200: divided by the factor
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(4, 2)]
    [InlineData(4, 1)]
    public void Attention_backward_matches_finite_differences(int heads, int kvHeads)
    {
        const int b = 2, t = 5, dh = 4;
        var q = RandomArray(_rng, b * t * heads * dh);
        var k = RandomArray(_rng, b * t * kvHeads * dh);
        var v = RandomArray(_rng, b * t * kvHeads * dh);
        var probe = RandomArray(_rng, q.Length);
        var att = new float[b * heads * t * t];
        double Loss()
        {
            var o = new float[q.Length];
            CausalAttention.Forward(o, new float[att.Length], q, k, v, b, t, heads, kvHeads, dh);
            return Project(o, probe);
        }
        CausalAttention.Forward(new float[q.Length], att, q, k, v, b, t, heads, kvHeads, dh);
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        CausalAttention.Backward(dq, dk, dv, probe, q, k, v, att, b, t, heads, kvHeads, dh);
        Check("dq", q, dq, Loss, output);
        Check("dk", k, dk, Loss, output);
        Check("dv", v, dv, Loss, output);
    }

    [Fact]
    public void Attention_is_causal_and_uniform_over_equal_keys()
    {
        // Identical keys give uniform weights over the visible prefix: position t averages v[0..t].
        const int t = 4, dh = 2;
        var q = RandomArray(_rng, t * dh);
        var k = Enumerable.Repeat(0.5f, t * dh).ToArray();
        var v = new float[] { 1, 0, 2, 0, 3, 0, 4, 0 };
        var o = new float[t * dh];
        CausalAttention.Forward(o, new float[t * t], q, k, v, 1, t, 1, 1, dh);
        Assert.Equal(new[] { 1f, 1.5f, 2f, 2.5f }, new[] { o[0], o[2], o[4], o[6] });
    }

    [Fact]
    public void CrossEntropy_backward_matches_finite_differences()
    {
        const int rows = 3, vocab = 7;
        var logits = RandomArray(_rng, rows * vocab, 2f);
        int[] targets = [2, -1, 6];
        double Loss() => CrossEntropy.Forward(logits, targets, vocab);
        var d = new float[logits.Length];
        CrossEntropy.Backward(d, logits, targets, vocab, 1f);
        Check("dlogits", logits, d, Loss, output);
        Assert.Equal(Math.Log(vocab), CrossEntropy.Forward(new float[vocab], [3], vocab), 6); // uniform logits
    }

    [Fact]
    public void Embedding_backward_matches_finite_differences()
    {
        const int vocab = 5, d = 3;
        var wte = RandomArray(_rng, vocab * d);
        int[] ids = [4, 1, 4, 0];
        var probe = RandomArray(_rng, ids.Length * d);
        double Loss()
        {
            var x = new float[ids.Length * d];
            Embedding.Forward(x, ids, wte, vocab, d);
            return Project(x, probe);
        }
        var dwte = new float[wte.Length];
        Embedding.Backward(dwte, probe, ids, d);
        Check("dwte", wte, dwte, Loss, output);
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward(new float[d], [vocab], wte, vocab, d));
    }
}
