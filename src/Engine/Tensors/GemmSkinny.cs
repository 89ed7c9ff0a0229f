using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// Products with only a few rows of C (decoding one token: x [1, D] times W^T), where packing all of B to feed a
/// 6-row micro-kernel would cost more than the product itself. Each column block of C is computed straight from
/// B's rows: dot products when B is stored [n, k], row updates (axpy) when it is stored [k, n]; either way every
/// element of B is read once.
/// </summary>
internal static unsafe class GemmSkinny
{
    /// <summary>At most this many rows of C take this path.</summary>
    public const int MaxRows = 2;

    // Columns per task; for B stored [k, n] also the width of the accumulator rows (MaxRows x 1024 floats = 8 KiB).
    private const int ColumnBlock = 1024;
    private const long MinParallelWork = 1L << 18;

    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha, float* a, nint lda,
        float* b, nint ldb, float beta, float* c, nint ldc, int threads)
    {
        // op(A)'s rows, contiguous: A itself when stored [m, k], else gathered from its columns.
        var gathered = transA ? ArrayPool<float>.Shared.Rent(m * k) : null;
        try
        {
            fixed (float* g = gathered)
            {
                var rows = a;
                var rowStride = lda;
                if (transA)
                {
                    for (var i = 0; i < m; i++)
                        for (var p = 0; p < k; p++)
                            g[i * k + p] = a[p * lda + i];
                    rows = g;
                    rowStride = k;
                }
                var job = new Job(transB, m, k, alpha, rows, rowStride, b, ldb, beta, c, ldc, n);
                var blocks = (n + ColumnBlock - 1) / ColumnBlock;
                if (threads == 1 || blocks == 1 || (long)m * n * k < MinParallelWork)
                    for (var block = 0; block < blocks; block++) job.Block(block);
                else
                    Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, job.Block);
            }
        }
        finally
        {
            if (gathered is not null) ArrayPool<float>.Shared.Return(gathered);
        }
    }

    private sealed class Job(bool transB, int m, int k, float alpha, float* rows, nint rowStride,
        float* b, nint ldb, float beta, float* c, nint ldc, int n)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Block(int block)
        {
            var j0 = block * ColumnBlock;
            var width = Math.Min(ColumnBlock, n - j0);
            if (transB) Dots(j0, width);
            else RowUpdates(j0, width);
        }

        /// <summary>B stored [n, k]: C[i, j] = alpha * dot(op(A) row i, B row j) + beta * C[i, j], four B rows at a time.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Dots(int j0, int width)
        {
            var sums = stackalloc float[4];
            var j = j0;
            for (; j + 4 <= j0 + width; j += 4)
            {
                var bRow = b + j * ldb;
                for (var i = 0; i < m; i++)
                {
                    Dot4(rows + i * rowStride, bRow, bRow + ldb, bRow + 2 * ldb, bRow + 3 * ldb, k, sums);
                    var cRow = c + i * ldc + j;
                    for (var q = 0; q < 4; q++)
                        cRow[q] = beta == 0 ? alpha * sums[q] : alpha * sums[q] + beta * cRow[q];
                }
            }
            for (; j < j0 + width; j++)
                for (var i = 0; i < m; i++)
                {
                    var dot = TensorPrimitives.Dot(new ReadOnlySpan<float>(rows + i * rowStride, k), new ReadOnlySpan<float>(b + j * ldb, k));
                    ref var cij = ref c[i * ldc + j];
                    cij = beta == 0 ? alpha * dot : alpha * dot + beta * cij;
                }
        }

        /// <summary>B stored [k, n]: acc_i = sum over p of op(A)[i, p] * B row p, then C = alpha * acc + beta * C.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void RowUpdates(int j0, int width)
        {
            var acc = stackalloc float[MaxRows * ColumnBlock];
            new Span<float>(acc, m * width).Clear();
            for (var p = 0; p < k; p++)
            {
                var bSegment = b + p * ldb + j0;
                for (var i = 0; i < m; i++) Axpy(rows[i * rowStride + p], bSegment, acc + i * width, width);
            }
            for (var i = 0; i < m; i++)
            {
                var cRow = c + i * ldc + j0;
                var row = acc + i * width;
                for (var j = 0; j < width; j++)
                    cRow[j] = beta == 0 ? alpha * row[j] : alpha * row[j] + beta * cRow[j];
            }
        }
    }

    /// <summary>sums[q] = dot(x, y_q) over k elements for four vectors y_q: each x chunk is loaded once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(float* x, float* y0, float* y1, float* y2, float* y3, int k, float* sums)
    {
        Vector<float> s0 = default, s1 = default, s2 = default, s3 = default;
        var width = Vector<float>.Count;
        var p = 0;
        for (; p + width <= k; p += width)
        {
            var xv = Vector.Load(x + p);
            s0 = Vector.MultiplyAddEstimate(xv, Vector.Load(y0 + p), s0);
            s1 = Vector.MultiplyAddEstimate(xv, Vector.Load(y1 + p), s1);
            s2 = Vector.MultiplyAddEstimate(xv, Vector.Load(y2 + p), s2);
            s3 = Vector.MultiplyAddEstimate(xv, Vector.Load(y3 + p), s3);
        }
        float t0 = Vector.Sum(s0), t1 = Vector.Sum(s1), t2 = Vector.Sum(s2), t3 = Vector.Sum(s3);
        for (; p < k; p++)
        {
            t0 += x[p] * y0[p];
            t1 += x[p] * y1[p];
            t2 += x[p] * y2[p];
            t3 += x[p] * y3[p];
        }
        (sums[0], sums[1], sums[2], sums[3]) = (t0, t1, t2, t3);
    }

    /// <summary>y += s * x over n elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy(float s, float* x, float* y, int n)
    {
        var sv = new Vector<float>(s);
        var width = Vector<float>.Count;
        var j = 0;
        for (; j + width <= n; j += width)
            Vector.Store(Vector.MultiplyAddEstimate(sv, Vector.Load(x + j), Vector.Load(y + j)), y + j);
        for (; j < n; j++) y[j] += s * x[j];
    }
}
