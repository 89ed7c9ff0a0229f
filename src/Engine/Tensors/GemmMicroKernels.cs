using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// The register-blocked inner kernels of <see cref="ManagedGemm"/>: C[MR, NR] = alpha * Ap * Bp + beta * C over one
/// packed A micro-panel (kc steps of MR floats) and one packed B micro-panel (kc steps of NR floats).
/// beta = 0 stores without reading C. One kernel per instruction-set rung; <see cref="Scalar"/> is the twin of the
/// vector ones and the fallback where no vector unit is accelerated.
/// </summary>
internal static unsafe class GemmMicroKernels
{
    public const int MR = 6;
    public const int NR = 16;

    public static delegate*<int, float*, float*, float*, nint, float, float, void> Select(GemmKernelPath path) => path switch
    {
        GemmKernelPath.Vector256 => &Vector256Kernel,
        GemmKernelPath.Vector128 => &Vector128Kernel,
        GemmKernelPath.Scalar => &Scalar,
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, "Unknown GEMM kernel path."),
    };

    /// <summary>The widest path this machine runs in hardware.</summary>
    public static GemmKernelPath Best =>
        Avx.IsSupported ? GemmKernelPath.Vector256
        : Vector128.IsHardwareAccelerated ? GemmKernelPath.Vector128
        : GemmKernelPath.Scalar;

    public static bool IsSupported(GemmKernelPath path) => path switch
    {
        GemmKernelPath.Vector256 => Avx.IsSupported,
        GemmKernelPath.Vector128 => Vector128.IsHardwareAccelerated,
        _ => true,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulAdd(Vector256<float> x, Vector256<float> y, Vector256<float> acc)
        => Fma.IsSupported ? Fma.MultiplyAdd(x, y, acc) : Avx.Add(Avx.Multiply(x, y), acc);

    /// <summary>6x16 tile in twelve ymm accumulators (AVX, FMA where supported): 12 + 2 B vectors + 1 broadcast = 15 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Vector256Kernel(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        // Ask for the C tile now so its lines arrive during the k loop rather than stalling the stores after it.
        for (var r = 0; r < MR; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + NR - 1);
        }
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // Two k steps per trip: half the loop overhead, and the second step's loads issue under the first's FMAs.
        var p = 0;
        for (; p + 2 <= kc; p += 2, a += 2 * MR, b += 2 * NR)
        {
            Sse.Prefetch0(a + 128);
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var ai = Avx.BroadcastScalarToVector256(a);
            c00 = MulAdd(ai, b0, c00);
            c01 = MulAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 1);
            c10 = MulAdd(ai, b0, c10);
            c11 = MulAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 2);
            c20 = MulAdd(ai, b0, c20);
            c21 = MulAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 3);
            c30 = MulAdd(ai, b0, c30);
            c31 = MulAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 4);
            c40 = MulAdd(ai, b0, c40);
            c41 = MulAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 5);
            c50 = MulAdd(ai, b0, c50);
            c51 = MulAdd(ai, b1, c51);
            b0 = Avx.LoadVector256(b + NR);
            b1 = Avx.LoadVector256(b + NR + 8);
            ai = Avx.BroadcastScalarToVector256(a + MR);
            c00 = MulAdd(ai, b0, c00);
            c01 = MulAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + MR + 1);
            c10 = MulAdd(ai, b0, c10);
            c11 = MulAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + MR + 2);
            c20 = MulAdd(ai, b0, c20);
            c21 = MulAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + MR + 3);
            c30 = MulAdd(ai, b0, c30);
            c31 = MulAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + MR + 4);
            c40 = MulAdd(ai, b0, c40);
            c41 = MulAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + MR + 5);
            c50 = MulAdd(ai, b0, c50);
            c51 = MulAdd(ai, b1, c51);
        }
        if (p < kc)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var ai = Avx.BroadcastScalarToVector256(a);
            c00 = MulAdd(ai, b0, c00);
            c01 = MulAdd(ai, b1, c01);
            ai = Avx.BroadcastScalarToVector256(a + 1);
            c10 = MulAdd(ai, b0, c10);
            c11 = MulAdd(ai, b1, c11);
            ai = Avx.BroadcastScalarToVector256(a + 2);
            c20 = MulAdd(ai, b0, c20);
            c21 = MulAdd(ai, b1, c21);
            ai = Avx.BroadcastScalarToVector256(a + 3);
            c30 = MulAdd(ai, b0, c30);
            c31 = MulAdd(ai, b1, c31);
            ai = Avx.BroadcastScalarToVector256(a + 4);
            c40 = MulAdd(ai, b0, c40);
            c41 = MulAdd(ai, b1, c41);
            ai = Avx.BroadcastScalarToVector256(a + 5);
            c50 = MulAdd(ai, b0, c50);
            c51 = MulAdd(ai, b1, c51);
        }

        var va = Vector256.Create(alpha);
        if (beta == 0)
        {
            Avx.Store(c, Avx.Multiply(va, c00)); Avx.Store(c + 8, Avx.Multiply(va, c01)); c += ldc;
            Avx.Store(c, Avx.Multiply(va, c10)); Avx.Store(c + 8, Avx.Multiply(va, c11)); c += ldc;
            Avx.Store(c, Avx.Multiply(va, c20)); Avx.Store(c + 8, Avx.Multiply(va, c21)); c += ldc;
            Avx.Store(c, Avx.Multiply(va, c30)); Avx.Store(c + 8, Avx.Multiply(va, c31)); c += ldc;
            Avx.Store(c, Avx.Multiply(va, c40)); Avx.Store(c + 8, Avx.Multiply(va, c41)); c += ldc;
            Avx.Store(c, Avx.Multiply(va, c50)); Avx.Store(c + 8, Avx.Multiply(va, c51));
            return;
        }
        var vb = Vector256.Create(beta);
        Store256(c, c00, c01, va, vb); c += ldc;
        Store256(c, c10, c11, va, vb); c += ldc;
        Store256(c, c20, c21, va, vb); c += ldc;
        Store256(c, c30, c31, va, vb); c += ldc;
        Store256(c, c40, c41, va, vb); c += ldc;
        Store256(c, c50, c51, va, vb);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> lo, Vector256<float> hi, Vector256<float> va, Vector256<float> vb)
    {
        Avx.Store(c, MulAdd(va, lo, Avx.Multiply(vb, Avx.LoadVector256(c))));
        Avx.Store(c + 8, MulAdd(va, hi, Avx.Multiply(vb, Avx.LoadVector256(c + 8))));
    }

    /// <summary>
    /// The 6x16 tile as two 6x8 halves of twelve 128-bit accumulators each, so it fits the 16 registers of SSE
    /// as well as Arm64's 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Vector128Kernel(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector128Half(kc, a, b, c, ldc, alpha, beta);
        Vector128Half(kc, a, b + 8, c + 8, ldc, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Vector128Half(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var ai = Vector128.Create(a[0]);
            c00 = Vector128.MultiplyAddEstimate(ai, b0, c00);
            c01 = Vector128.MultiplyAddEstimate(ai, b1, c01);
            ai = Vector128.Create(a[1]);
            c10 = Vector128.MultiplyAddEstimate(ai, b0, c10);
            c11 = Vector128.MultiplyAddEstimate(ai, b1, c11);
            ai = Vector128.Create(a[2]);
            c20 = Vector128.MultiplyAddEstimate(ai, b0, c20);
            c21 = Vector128.MultiplyAddEstimate(ai, b1, c21);
            ai = Vector128.Create(a[3]);
            c30 = Vector128.MultiplyAddEstimate(ai, b0, c30);
            c31 = Vector128.MultiplyAddEstimate(ai, b1, c31);
            ai = Vector128.Create(a[4]);
            c40 = Vector128.MultiplyAddEstimate(ai, b0, c40);
            c41 = Vector128.MultiplyAddEstimate(ai, b1, c41);
            ai = Vector128.Create(a[5]);
            c50 = Vector128.MultiplyAddEstimate(ai, b0, c50);
            c51 = Vector128.MultiplyAddEstimate(ai, b1, c51);
            a += MR;
            b += NR;
        }

        var va = Vector128.Create(alpha);
        var vb = Vector128.Create(beta);
        var readC = beta != 0;
        Store128(c, c00, c01, va, vb, readC); c += ldc;
        Store128(c, c10, c11, va, vb, readC); c += ldc;
        Store128(c, c20, c21, va, vb, readC); c += ldc;
        Store128(c, c30, c31, va, vb, readC); c += ldc;
        Store128(c, c40, c41, va, vb, readC); c += ldc;
        Store128(c, c50, c51, va, vb, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(float* c, Vector128<float> lo, Vector128<float> hi, Vector128<float> va, Vector128<float> vb, bool readC)
    {
        if (readC)
        {
            (va * lo + vb * Vector128.Load(c)).Store(c);
            (va * hi + vb * Vector128.Load(c + 4)).Store(c + 4);
        }
        else
        {
            (va * lo).Store(c);
            (va * hi).Store(c + 4);
        }
    }

    /// <summary>The scalar twin: same packed layout, same store rule.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        var acc = stackalloc float[MR * NR];
        new Span<float>(acc, MR * NR).Clear();
        for (var p = 0; p < kc; p++, a += MR, b += NR)
            for (var r = 0; r < MR; r++)
            {
                var ar = a[r];
                var row = acc + r * NR;
                for (var j = 0; j < NR; j++) row[j] += ar * b[j];
            }
        for (var r = 0; r < MR; r++)
        {
            var crow = c + r * ldc;
            for (var j = 0; j < NR; j++)
                crow[j] = beta == 0 ? alpha * acc[r * NR + j] : alpha * acc[r * NR + j] + beta * crow[j];
        }
    }
}
