using System.Collections.Concurrent;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>Runs a backend and a reference on the same <see cref="GemmCase"/> and compares within a rounding bound.</summary>
public static class GemmCheck
{
    // The naive oracle is the slow part of the suite; several tests (and both backends) check the same cases.
    private static readonly ConcurrentDictionary<GemmCase, (float[] Expected, float[] Bound)> NaiveResults = new();

    /// <summary>
    /// Asserts the backend matches <see cref="NaiveGemm"/> (double accumulation) inside C's window, within
    /// (k + 4) float epsilons of |alpha| |op(A)| |op(B)| + |beta| |C| per element (the worst-case bound of a float
    /// dot product of length k), and leaves every element outside the window bit for bit unchanged.
    /// </summary>
    public static void MatchesNaive(IGemm gemm, GemmCase g)
    {
        var (expected, bound) = NaiveResults.GetOrAdd(g, static g =>
        {
            var expected = g.CreateC();
            g.Run(new NaiveGemm(), g.CreateA(), g.CreateB(), expected);
            return (expected, Magnitude(new NaiveGemm(), g, g.CreateA(), g.CreateB(), g.CreateC()));
        });
        Compare(gemm, "naive", g, expected, bound, boundFactor: 1);
    }

    /// <summary>
    /// Two float backends: each within the bound of the exact value, so within twice it of each other.
    /// <paramref name="magnitudeBackend"/> computes the bound (only its scale matters, so a fast backend will do).
    /// </summary>
    public static void Matches(IGemm gemm, IGemm reference, GemmCase g, IGemm magnitudeBackend)
    {
        var expected = g.CreateC();
        g.Run(reference, g.CreateA(), g.CreateB(), expected);
        Compare(gemm, reference.Name, g, expected, Magnitude(magnitudeBackend, g, g.CreateA(), g.CreateB(), g.CreateC()), boundFactor: 2);
    }

    private static void Compare(IGemm gemm, string referenceName, GemmCase g, float[] expected, float[] bound, double boundFactor)
    {
        var c0 = g.CreateC();
        var actual = (float[])c0.Clone();
        g.Run(gemm, g.CreateA(), g.CreateB(), actual);
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
                Assert.Fail($"{gemm.Name} {g}: C[{i / g.Ldc},{i % g.Ldc}] = {actual[i]}, {referenceName} gives {expected[i]} " +
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
