namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// GEMM through OpenBLAS <c>cblas_sgemm</c> (row-major), loaded from <c>libopenblas.so.0</c>
/// (Debian/Ubuntu package <c>libopenblas0-pthread</c>). Arguments are checked in managed code before the native call.
/// </summary>
public sealed unsafe class OpenBlasGemm : IGemm
{
    /// <summary>Throws when the library cannot be loaded; check <see cref="IsAvailable"/> first to choose quietly.</summary>
    public OpenBlasGemm()
    {
        if (!IsAvailable)
            throw new InvalidOperationException(
                $"OpenBLAS is not available: {OpenBlasNative.Description} (or it lacks cblas_sgemm). " +
                "Install it (apt-get install libopenblas0-pthread) or choose another GEMM backend.");
    }

    public string Name => "openblas";

    /// <summary>Whether <c>libopenblas</c> loads and exports <c>cblas_sgemm</c>.</summary>
    public static bool IsAvailable => OpenBlasNative.Resolved is not null;

    /// <summary>The library file that was loaded, or why none was.</summary>
    public static string LibraryDescription => OpenBlasNative.Description;

    /// <summary>
    /// OpenBLAS's own worker-thread count (process-wide, <c>openblas_set_num_threads</c>).
    /// Reads 0 when the library or the export is missing; setting then throws.
    /// </summary>
    public static int ThreadCount
    {
        get
        {
            var exports = OpenBlasNative.Resolved;
            return exports is null || exports.GetNumThreads == null ? 0 : exports.GetNumThreads();
        }
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(ThreadCount));
            var exports = OpenBlasNative.Resolved;
            if (exports is null || exports.SetNumThreads == null)
                throw new InvalidOperationException(
                    $"Cannot set the OpenBLAS thread count: openblas_set_num_threads is not available ({OpenBlasNative.Description}).");
            exports.SetNumThreads(value);
        }
    }

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        if (GemmArguments.ValidateAndHandleDegenerate(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;

        var sgemm = OpenBlasNative.Resolved!.Sgemm;
        fixed (float* pa = a, pb = b, pc = c)
        {
            sgemm(OpenBlasNative.RowMajor,
                transA ? OpenBlasNative.Trans : OpenBlasNative.NoTrans,
                transB ? OpenBlasNative.Trans : OpenBlasNative.NoTrans,
                m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }
}
