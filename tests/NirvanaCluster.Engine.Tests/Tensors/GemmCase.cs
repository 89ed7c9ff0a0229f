using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>
/// One GEMM call to check: shapes, transposes, padding of each leading dimension beyond its minimum, alpha/beta,
/// and whether C starts as NaN (for beta = 0, which must not read it). Arrays carry a few guard floats at the end.
/// </summary>
public sealed record GemmCase(bool TransA, bool TransB, int M, int N, int K, float Alpha = 1, float Beta = 0,
    int PadA = 0, int PadB = 0, int PadC = 0, bool NanC = false, int Seed = 1)
{
    private const int Guard = 5;

    public int Lda => (TransA ? M : K) + PadA;
    public int Ldb => (TransB ? K : N) + PadB;
    public int Ldc => N + PadC;

    public float[] CreateA() => Random(Seed, (TransA ? K : M) * Lda + Guard);
    public float[] CreateB() => Random(Seed + 1, (TransB ? N : K) * Ldb + Guard);

    public float[] CreateC()
    {
        var c = Random(Seed + 2, M * Ldc + Guard);
        if (NanC)
            for (var i = 0; i < M; i++) c.AsSpan(i * Ldc, N).Fill(float.NaN);
        return c;
    }

    public void Run(IGemm gemm, float[] a, float[] b, float[] c)
        => gemm.Sgemm(TransA, TransB, M, N, K, Alpha, a, Lda, b, Ldb, Beta, c, Ldc);

    public bool InWindow(int index) => index < M * Ldc && index % Ldc < N;

    public override string ToString()
        => $"{(TransA ? "T" : "N")}{(TransB ? "T" : "N")} m={M} n={N} k={K} alpha={Alpha} beta={Beta} pad=({PadA},{PadB},{PadC}){(NanC ? " NaN C" : "")}";

    private static float[] Random(int seed, int length)
    {
        var random = new Random(seed);
        var data = new float[length];
        for (var i = 0; i < data.Length; i++) data[i] = random.NextSingle() * 2 - 1;
        return data;
    }
}
