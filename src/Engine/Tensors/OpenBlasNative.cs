using System.Runtime.InteropServices;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// The OpenBLAS entry points, resolved once at first use. Loading by hand (instead of <c>[DllImport]</c>) lets the
/// process ask "is it there?" without catching <see cref="DllNotFoundException"/> on a hot path.
/// </summary>
internal static unsafe class OpenBlasNative
{
    // CBLAS enum values from cblas.h.
    public const int RowMajor = 101;
    public const int NoTrans = 111;
    public const int Trans = 112;

    /// <summary>Names tried in order: the Debian/Ubuntu soname first (package libopenblas0-pthread).</summary>
    public static readonly string[] LibraryNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas"];

    private static readonly Lazy<Exports?> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public static Exports? Resolved => s_exports.Value;

    /// <summary>Which file was loaded, or why nothing was; for logs and error messages.</summary>
    public static string Description => s_exports.Value?.LibraryName ?? $"none of {string.Join(", ", LibraryNames)} could be loaded";

    internal sealed class Exports
    {
        public required string LibraryName { get; init; }

        /// <summary>cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); 32-bit blasint.</summary>
        public required delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm { get; init; }

        public delegate* unmanaged<int, void> SetNumThreads { get; init; }

        public delegate* unmanaged<int> GetNumThreads { get; init; }
    }

    private static Exports? Load()
    {
        foreach (var name in LibraryNames)
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm))
            {
                NativeLibrary.Free(handle);
                continue;
            }
            NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var setThreads);
            NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out var getThreads);
            return new Exports
            {
                LibraryName = name,
                Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm,
                SetNumThreads = (delegate* unmanaged<int, void>)setThreads,
                GetNumThreads = (delegate* unmanaged<int>)getThreads,
            };
        }
        return null;
    }
}
