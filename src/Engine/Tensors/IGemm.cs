namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// Single-precision GEMM on row-major matrices: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
/// op(X) is X or its transpose; lda/ldb/ldc are row strides of the matrices as stored.
/// A stored row-major: transA=false means A is [m, k] (lda >= k); transA=true means A is [k, m] (lda >= m).
/// B likewise: transB=false means B is [k, n] (ldb >= n); transB=true means B is [n, k] (ldb >= k).
/// beta = 0 overwrites C without reading it (NaNs in C are not propagated).
/// </summary>
public interface IGemm
{
    string Name { get; }

    void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);

    /// <summary>
    /// The same product with B a weight held at checkpoint precision: B is <paramref name="b"/> as stored, [n, k] when
    /// <paramref name="transB"/> (x W^T, the usual Linear) and [k, n] otherwise, with its row length as stride. The
    /// result is bitwise the one <see cref="Sgemm"/> gives on the same values held as fp32. The default converts a
    /// bounded slab of output columns at a time into fp32 scratch (<see cref="WeightSlabs"/>); a backend that packs
    /// panels converts while packing instead.
    /// </summary>
    void SgemmWeight(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix b,
        float beta, Span<float> c, int ldc)
        => WeightSlabs.Run(this, transA, transB, m, n, k, alpha, a, lda, b, beta, c, ldc);
}
