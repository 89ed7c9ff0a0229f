using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>Runs a backend and a reference on the same <see cref="GemmCase"/> and compares within a rounding bound.</summary>
public static class GemmCheck
{
    /// <summary>
    /// Asserts the backend matches <see cref="NaiveGemm"/> (double accumulation) inside C's window, within
    /// (k + 4) float epsilons of |alpha| |op(A)| |op(B)| + |beta| |C| per element (the worst-case bound of a float
    /// dot product of length k), and leaves every element outside the window bit for bit unchanged.
    /// </summary>
    public static void MatchesNaive(IGemm gemm, GemmCase g) => Matches(gemm, new NaiveGemm(), g, 1, new NaiveGemm());

    /// <summary>
    /// Two float backends: each within the bound of the exact value, so within twice it of each other.
    /// <paramref name="magnitudeBackend"/> computes the bound (only its scale matters, so a fast backend will do).
    /// </summary>
    public static void Matches(IGemm gemm, IGemm reference, GemmCase g, double boundFactor, IGemm magnitudeBackend)
    {
        var a = g.CreateA();
        var b = g.CreateB();
        var c0 = g.CreateC();
        var expected = (float[])c0.Clone();
        g.Run(reference, a, b, expected);
        var actual = (float[])c0.Clone();
        g.Run(gemm, a, b, actual);
        var bound = Magnitude(magnitudeBackend, g, a, b, c0);

        var tolerance = boundFactor * (g.K + 4) * Math.Pow(2, -23);
        for (var i = 0; i < actual.Length; i++)
        {
            if (!g.InWindow(i))
            {
                if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(c0[i]))
                    Assert.Fail($"{gemm.Name} {g}: wrote outside C's window at index {i} ({c0[i]} -> {actual[i]}).");
                continue;
            }
            var error = Math.Abs((double)actual[i] - expected[i]);
            var allowed = tolerance * bound[i] + 1e-30;
            if (!(error <= allowed))
                Assert.Fail($"{gemm.Name} {g}: C[{i / g.Ldc},{i % g.Ldc}] = {actual[i]}, {reference.Name} gives {expected[i]} " +
                    $"(error {error:E2} > allowed {allowed:E2}).");
        }
    }

    /// <summary>|alpha| |op(A)| |op(B)| + |beta| |C| per element of C (sums of non-negative terms: no cancellation).</summary>
    private static float[] Magnitude(IGemm backend, GemmCase g, float[] a, float[] b, float[] c0)
    {
        var absA = a.Select(Math.Abs).ToArray();
        var absB = b.Select(Math.Abs).ToArray();
        var magnitude = c0.Select(Math.Abs).ToArray();
        backend.Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, Math.Abs(g.Alpha), absA, g.Lda, absB, g.Ldb,
            Math.Abs(g.Beta), magnitude, g.Ldc);
        return magnitude;
    }
}
