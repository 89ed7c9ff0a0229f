using System.Buffers;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// GEMM with a 16-bit weight for a backend that takes only fp32 operands (OpenBLAS): the output columns are cut into
/// slabs, each slab's part of the weight is widened into fp32 scratch (a few MiB, never the whole weight), and the
/// backend computes C[:, slab] from it. Only n is cut, never k, so every element of C is still one dot product over
/// the whole of k in the backend's own order: the result is bitwise the unsliced product. Slab widths are multiples
/// of <see cref="ColumnQuantum"/> (a multiple of every register-block width in use) and a remainder narrower than
/// that joins the last slab, so no slab degenerates into a matrix-vector product that a BLAS would route elsewhere.
/// </summary>
public static class WeightSlabs
{
    /// <summary>Scratch per slab, in floats (8 MiB).</summary>
    public const int SlabFloats = 1 << 21;

    /// <summary>lcm(64, 3): slab edges stay aligned to 4, 6, 8, 12, 16, 24, 32, 48 and 64-column micro-tiles.</summary>
    public const int ColumnQuantum = 192;

    internal static void Run(IGemm gemm, bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix b, float beta, Span<float> c, int ldc)
    {
        CheckShape(transB, n, k, b);
        if (b.IsSingle)
        {
            gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b.Single, b.Cols, beta, c, ldc);
            return;
        }
        var width = SlabWidth(n, k);
        var scratch = ArrayPool<float>.Shared.Rent((int)Math.Max(1, ScratchFloats(n, k)));
        try
        {
            if (n == 0 || k == 0)
            {
                // Nothing to convert; the backend still validates and applies beta.
                gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, [], transB ? k : n, beta, c, ldc);
                return;
            }
            for (var j0 = 0; j0 < n;)
            {
                var cols = n - j0 - width < ColumnQuantum ? n - j0 : width;
                var slab = scratch.AsSpan(0, cols * k);
                if (transB)
                {
                    b.RowsToSingle(j0, cols, slab);                 // [cols, k]
                    gemm.Sgemm(transA, true, m, cols, k, alpha, a, lda, slab, k, beta, c[j0..], ldc);
                }
                else
                {
                    b.ColumnsToSingle(j0, cols, slab);              // [k, cols]
                    gemm.Sgemm(transA, false, m, cols, k, alpha, a, lda, slab, cols, beta, c[j0..], ldc);
                }
                j0 += cols;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>Columns per slab: all of n when the weight fits the scratch, else the widest multiple of the quantum that does.</summary>
    public static int SlabWidth(int n, int k) =>
        (long)n * k <= SlabFloats ? Math.Max(n, 1) : Math.Max(ColumnQuantum, SlabFloats / Math.Max(k, 1) / ColumnQuantum * ColumnQuantum);

    /// <summary>The widest slab of the partition: a full one, or the last with a narrow remainder joined to it.</summary>
    public static int MaxSlabColumns(int n, int k)
    {
        var width = SlabWidth(n, k);
        var widest = 0;
        for (var j0 = 0; j0 < n;)
        {
            var cols = n - j0 - width < ColumnQuantum ? n - j0 : width;
            widest = Math.Max(widest, cols);
            j0 += cols;
        }
        return widest;
    }

    /// <summary>Floats of fp32 scratch a product with an [n, k] / [k, n] 16-bit weight takes (what the planner counts).</summary>
    public static long ScratchFloats(int n, int k) => (long)MaxSlabColumns(n, k) * k;

    /// <summary>The weight must be exactly op(B) as stored: [n, k] for transB, [k, n] otherwise.</summary>
    internal static void CheckShape(bool transB, int n, int k, WeightMatrix b)
    {
        ArgumentNullException.ThrowIfNull(b);
        var (rows, cols) = transB ? (n, k) : (k, n);
        if (b.Rows != rows || b.Cols != cols)
            throw new ArgumentException($"weight {b} does not match the product: with transB={(transB ? "true" : "false")}, n={n}, k={k} it must be [{rows}, {cols}]", nameof(b));
        if (b.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"weight dtype {b.DType.SafeTensorsName()} cannot enter a GEMM", nameof(b));
    }
}
