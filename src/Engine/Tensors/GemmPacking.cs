using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NirvanaCluster.Engine.Checkpoints;
using static NirvanaCluster.Engine.Tensors.GemmMicroKernels;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// Copies blocks of op(A) and op(B) into the layouts the micro-kernels stream through:
/// packed A is a run of micro-panels of MR rows, each kc steps of MR floats (column p of the panel at p * MR);
/// packed B is a run of micro-panels of NR columns, each kc steps of NR floats (row p of the panel at p * NR).
/// Rows or columns past the matrix edge are zero, so the kernels never branch on edges.
/// Destinations need <see cref="Slack"/> writable floats past their end: the AVX transposes store whole vectors.
/// </summary>
internal static unsafe class GemmPacking
{
    public const int Slack = 8;

    /// <summary>Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into ceil(mc / MR) micro-panels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(bool transA, float* a, nint lda, int i0, int p0, int mc, int kc, float* dst)
    {
        for (var r0 = 0; r0 < mc; r0 += MR, dst += MR * kc)
        {
            var rows = Math.Min(MR, mc - r0);
            if (transA) PackATransposed(a + p0 * lda + i0 + r0, lda, rows, kc, dst);
            else PackARows(a + (i0 + r0) * lda + p0, lda, rows, kc, dst);
        }
    }

    /// <summary>Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] micro-panels [panelStart, panelEnd) (of NR columns each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackB(bool transB, float* b, nint ldb, int p0, int j0, int kc, int nc,
        int panelStart, int panelEnd, float* dst)
    {
        dst += (nint)panelStart * NR * kc;
        for (var panel = panelStart; panel < panelEnd; panel++, dst += NR * kc)
        {
            var c0 = panel * NR;
            var cols = Math.Min(NR, nc - c0);
            if (transB) PackBColumns(b + (j0 + c0) * ldb + p0, ldb, cols, kc, dst);
            else PackBRows(b + p0 * ldb + j0 + c0, ldb, cols, kc, dst);
        }
    }

    /// <summary>
    /// <see cref="PackB"/> for a B held as BF16/F16: each micro-panel's part of B is widened (exactly) into
    /// <paramref name="staging"/> (NR x kc floats, L1-sized), then packed by the fp32 routines, so the packed panels
    /// are bit for bit those of an fp32 B.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackBWidening(bool transB, DType dtype, ushort* b, nint ldb, int p0, int j0, int kc, int nc,
        int panelStart, int panelEnd, float* dst, float* staging)
    {
        dst += (nint)panelStart * NR * kc;
        for (var panel = panelStart; panel < panelEnd; panel++, dst += NR * kc)
        {
            var c0 = panel * NR;
            var cols = Math.Min(NR, nc - c0);
            if (transB)
            {
                // B stored [n, k]: the panel's columns are rows of B; widen kc steps of each into [cols, kc].
                for (var r = 0; r < cols; r++) Widen(dtype, b + (j0 + c0 + r) * ldb + p0, kc, staging + (nint)r * kc);
                PackBColumns(staging, kc, cols, kc, dst);
            }
            else
            {
                // B stored [k, n]: each step is `cols` contiguous values; widen into [kc, NR].
                for (var p = 0; p < kc; p++) Widen(dtype, b + (p0 + p) * ldb + j0 + c0, cols, staging + (nint)p * NR);
                PackBRows(staging, NR, cols, kc, dst);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(DType dtype, ushort* src, int count, float* dst)
    {
        if (dtype == DType.BF16) FloatConversion.BFloat16ToSingle(new ReadOnlySpan<ushort>(src, count), new Span<float>(dst, count));
        else FloatConversion.HalfToSingle(new ReadOnlySpan<Half>(src, count), new Span<float>(dst, count));
    }

    /// <summary>A stored [m, k]: the panel's rows are contiguous in p, so each step gathers one float per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackARows(float* src, nint lda, int rows, int kc, float* dst)
    {
        var p = 0;
        if (rows == MR && Avx.IsSupported)
        {
            // Transpose 8 steps at a time: six rows plus two zero rows through an 8x8 transpose; each store of 8
            // lanes spills 2 into the next step, which the next store overwrites (hence Slack).
            var zero = Vector256<float>.Zero;
            for (; p + 8 <= kc; p += 8)
            {
                var s = src + p;
                Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + lda), Avx.LoadVector256(s + 2 * lda),
                    Avx.LoadVector256(s + 3 * lda), Avx.LoadVector256(s + 4 * lda), Avx.LoadVector256(s + 5 * lda),
                    zero, zero, dst + p * MR, MR);
            }
        }
        for (; p < kc; p++)
        {
            var d = dst + p * MR;
            var r = 0;
            for (; r < rows; r++) d[r] = src[r * lda + p];
            for (; r < MR; r++) d[r] = 0;
        }
    }

    /// <summary>A stored [k, m]: each step is MR contiguous floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackATransposed(float* src, nint lda, int rows, int kc, float* dst)
    {
        if (rows == MR)
        {
            for (var p = 0; p < kc; p++, src += lda, dst += MR)
            {
                Vector128.Store(Vector128.Load(src), dst);
                *(long*)(dst + 4) = *(long*)(src + 4);
            }
            return;
        }
        for (var p = 0; p < kc; p++, src += lda, dst += MR)
        {
            var r = 0;
            for (; r < rows; r++) dst[r] = src[r];
            for (; r < MR; r++) dst[r] = 0;
        }
    }

    /// <summary>B stored [k, n]: each step is NR contiguous floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBRows(float* src, nint ldb, int cols, int kc, float* dst)
    {
        if (cols == NR && Avx.IsSupported)
        {
            for (var p = 0; p < kc; p++, src += ldb, dst += NR)
            {
                Avx.Store(dst, Avx.LoadVector256(src));
                Avx.Store(dst + 8, Avx.LoadVector256(src + 8));
            }
            return;
        }
        for (var p = 0; p < kc; p++, src += ldb, dst += NR)
        {
            var j = 0;
            for (; j < cols; j++) dst[j] = src[j];
            for (; j < NR; j++) dst[j] = 0;
        }
    }

    /// <summary>B stored [n, k] (the usual weight layout, x W^T): the panel's columns are rows of B, contiguous in p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBColumns(float* src, nint ldb, int cols, int kc, float* dst)
    {
        var p = 0;
        if (cols == NR && Avx.IsSupported)
        {
            for (; p + 8 <= kc; p += 8)
            {
                var s = src + p;
                Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + ldb), Avx.LoadVector256(s + 2 * ldb),
                    Avx.LoadVector256(s + 3 * ldb), Avx.LoadVector256(s + 4 * ldb), Avx.LoadVector256(s + 5 * ldb),
                    Avx.LoadVector256(s + 6 * ldb), Avx.LoadVector256(s + 7 * ldb), dst + p * NR, NR);
                s += 8 * ldb;
                Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + ldb), Avx.LoadVector256(s + 2 * ldb),
                    Avx.LoadVector256(s + 3 * ldb), Avx.LoadVector256(s + 4 * ldb), Avx.LoadVector256(s + 5 * ldb),
                    Avx.LoadVector256(s + 6 * ldb), Avx.LoadVector256(s + 7 * ldb), dst + p * NR + 8, NR);
            }
        }
        for (; p < kc; p++)
        {
            var d = dst + p * NR;
            var j = 0;
            for (; j < cols; j++) d[j] = src[j * ldb + p];
            for (; j < NR; j++) d[j] = 0;
        }
    }

    /// <summary>Writes column q of the 8x8 block whose rows are r0..r7 to dst + q * stride (8 floats each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, int stride)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Stores go in ascending address order: with stride 6 each one overlaps the start of the next.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + stride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * stride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * stride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * stride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * stride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * stride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * stride, Avx.Permute2x128(u3, u7, 0x31));
    }
}
