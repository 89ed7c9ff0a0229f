using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>The fast backends check every length and stride at entry and name the offending argument.</summary>
public class GemmArgumentTests
{
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { "managed" };
        if (OpenBlasGemm.IsAvailable) data.Add("openblas");
        return data;
    }

    // A valid call: NN, m=3, n=4, k=5 with tight strides.
    private const int M = 3, N = 4, K = 5;

    private static void Call(string backend, bool transA = false, bool transB = false, int m = M, int n = N, int k = K,
        int? lda = null, int? ldb = null, int? ldc = null, int aLength = M * K, int bLength = K * N, int cLength = M * N)
        => Gemm.Create(backend).Sgemm(transA, transB, m, n, k, 1f, new float[aLength], lda ?? (transA ? m : k),
            new float[bLength], ldb ?? (transB ? k : n), 0f, new float[cLength], ldc ?? n);

    private static void AssertNames(string parameter, Action call)
    {
        var error = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(parameter, error.ParamName);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void A_valid_call_passes(string backend) => Call(backend);

    [Theory]
    [MemberData(nameof(Backends))]
    public void Negative_sizes_are_named(string backend)
    {
        AssertNames("m", () => Call(backend, m: -1));
        AssertNames("n", () => Call(backend, n: -1));
        AssertNames("k", () => Call(backend, k: -1));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Leading_dimensions_below_the_row_width_are_named(string backend)
    {
        AssertNames("lda", () => Call(backend, lda: K - 1));
        AssertNames("lda", () => Call(backend, transA: true, lda: M - 1, aLength: K * M));
        AssertNames("ldb", () => Call(backend, ldb: N - 1));
        AssertNames("ldb", () => Call(backend, transB: true, ldb: K - 1, bLength: N * K));
        AssertNames("ldc", () => Call(backend, ldc: N - 1));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Buffers_too_short_for_the_shape_are_named(string backend)
    {
        AssertNames("a", () => Call(backend, aLength: M * K - 1));
        AssertNames("a", () => Call(backend, lda: K + 2, aLength: M * K + 2)); // needs 2 * (K + 2) + K
        AssertNames("b", () => Call(backend, bLength: K * N - 1));
        AssertNames("b", () => Call(backend, transB: true, bLength: N * K - 1));
        AssertNames("c", () => Call(backend, cLength: M * N - 1));
        AssertNames("c", () => Call(backend, ldc: N + 1, cLength: M * N + 1));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Output_overlapping_an_input_is_rejected(string backend)
    {
        var gemm = Gemm.Create(backend);
        var shared = new float[64];
        var error = Assert.Throws<ArgumentException>(() =>
            gemm.Sgemm(false, false, M, N, K, 1f, shared.AsSpan(0, M * K), K, new float[K * N], N, 0f, shared.AsSpan(10, M * N), N));
        Assert.Equal("c", error.ParamName);
        Assert.Contains("overlaps input a", error.Message);
        error = Assert.Throws<ArgumentException>(() =>
            gemm.Sgemm(false, false, M, N, K, 1f, new float[M * K], K, shared.AsSpan(0, K * N), N, 0f, shared.AsSpan(K * N - 1, M * N), N));
        Assert.Contains("overlaps input b", error.Message);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Empty_products_need_no_data(string backend)
    {
        Call(backend, m: 0, aLength: 0, cLength: 0);
        Call(backend, n: 0, bLength: 0, cLength: 0);
        // k = 0: A and B are empty and C = beta * C (here beta = 0: zeros).
        var c = new float[M * N];
        Array.Fill(c, float.NaN);
        Gemm.Create(backend).Sgemm(false, false, M, N, 0, 1f, [], 0, [], N, 0f, c, N);
        Assert.All(c, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void The_message_says_what_was_expected()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Call("managed", transA: true, lda: 2, aLength: K * M));
        Assert.Contains("lda must be at least 3", error.Message);
        Assert.Contains("transA=true", error.Message);
        error = Assert.ThrowsAny<ArgumentException>(() => Call("managed", aLength: 7));
        Assert.Contains("needs at least 15 elements", error.Message);
        Assert.Contains("has 7", error.Message);
    }
}
