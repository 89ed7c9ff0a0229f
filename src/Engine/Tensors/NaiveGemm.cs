namespace NirvanaCluster.Engine.Tensors;

/// <summary>The reference GEMM: a triple loop with a double accumulator. Test oracle for the fast backends.</summary>
public sealed class NaiveGemm : IGemm
{
    public string Name => "naive";

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var p = 0; p < k; p++)
                {
                    var av = transA ? a[p * lda + i] : a[i * lda + p];
                    var bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += (double)av * bv;
                }
                var idx = i * ldc + j;
                c[idx] = beta == 0 ? alpha * (float)sum : alpha * (float)sum + beta * c[idx];
            }
    }
}
