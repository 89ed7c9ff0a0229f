namespace NirvanaCluster.Benchmarks;

/// <summary>One benchmarked product: C[m, n] = op(A) op(B) with op(A) [m, k], op(B) [k, n], as IGemm takes them.</summary>
public sealed record GemmShape(string Model, string Label, bool TransA, bool TransB, int M, int N, int K)
{
    public double Flops => 2.0 * M * N * K;

    /// <summary>The product written with stored shapes, e.g. [4096,288]x[768,288]^T.</summary>
    public string Product
    {
        get
        {
            var a = TransA ? $"[{K},{M}]^T" : $"[{M},{K}]";
            var b = TransB ? $"[{N},{K}]^T" : $"[{K},{N}]";
            return a + "x" + b;
        }
    }
}

/// <summary>The benchmarked shapes: linear layers as they occur in forward (x W^T) and backward (dY W, dY^T X).</summary>
public static class GemmBenchmarkShapes
{
    /// <summary>stories15M (D 288, F 768, V 32000) over <paramref name="tokens"/> rows (32 sequences x 128 positions).</summary>
    public static IEnumerable<GemmShape> Stories15M(int tokens)
    {
        const int d = 288, f = 768, v = 32000;
        const string model = "stories15M";
        yield return new(model, "q/k/v/o   x W^T", false, true, tokens, d, d);
        yield return new(model, "gate/up   x W^T", false, true, tokens, f, d);
        yield return new(model, "down      x W^T", false, true, tokens, d, f);
        yield return new(model, "lm_head   x W^T", false, true, tokens, v, d);
        yield return new(model, "q dX      dY W", false, false, tokens, d, d);
        yield return new(model, "down dX   dY W", false, false, tokens, f, d);
        yield return new(model, "lm_head dX dY W", false, false, tokens, d, v);
        yield return new(model, "q dW      dY^T X", true, false, d, d, tokens);
        yield return new(model, "gate dW   dY^T X", true, false, f, d, tokens);
        yield return new(model, "down dW   dY^T X", true, false, d, f, tokens);
    }

    /// <summary>One Llama-3-8B layer (D 4096, F 14336, 8 KV heads of 128) over <paramref name="tokens"/> rows.</summary>
    public static IEnumerable<GemmShape> Llama3Layer(int tokens)
    {
        const int d = 4096, f = 14336, kv = 8 * 128;
        const string model = "Llama-3-8B";
        yield return new(model, "q/o       x W^T", false, true, tokens, d, d);
        yield return new(model, "k/v       x W^T", false, true, tokens, kv, d);
        yield return new(model, "gate/up   x W^T", false, true, tokens, f, d);
        yield return new(model, "down      x W^T", false, true, tokens, d, f);
    }
}
