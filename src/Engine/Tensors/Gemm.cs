namespace NirvanaCluster.Engine.Tensors;

/// <summary>The process-wide GEMM backend. Placeholder until the kernels land: a naive reference.</summary>
public static class Gemm
{
    public static IGemm Default { get; set; } = new NaiveGemm();

    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
        => Default.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
