using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests;

/// <summary>Central finite differences against an analytic gradient, on a sample of coordinates.</summary>
public static class GradCheck
{
    /// <summary>A weight held as fp32 (the finite differences perturb its values in place).</summary>
    public static void Check(string name, NirvanaCluster.Engine.Tensors.WeightMatrix parameter, ReadOnlySpan<float> analytic, Func<double> loss,
        ITestOutputHelper? output = null, int samples = 48, int seed = 7, float h = 1e-2f, double atol = 2e-3, double rtol = 2e-2)
        => Check(name, parameter.Single, analytic, loss, output, samples, seed, h, atol, rtol);

    public static void Check(string name, Span<float> parameter, ReadOnlySpan<float> analytic, Func<double> loss,
        ITestOutputHelper? output = null, int samples = 48, int seed = 7, float h = 1e-2f, double atol = 2e-3, double rtol = 2e-2)
    {
        Assert.Equal(parameter.Length, analytic.Length);
        var rng = new Random(seed);
        var length = parameter.Length;
        var count = Math.Min(samples, length);
        var indices = count == length
            ? Enumerable.Range(0, count).ToArray()
            : Enumerable.Range(0, count).Select(_ => rng.Next(length)).ToArray();
        double maxDiff = 0, maxAbs = 0;
        foreach (var i in indices)
        {
            var saved = parameter[i];
            parameter[i] = saved + h;
            var plus = loss();
            parameter[i] = saved - h;
            var minus = loss();
            parameter[i] = saved;
            var numeric = (plus - minus) / (2.0 * h);
            var diff = Math.Abs(numeric - analytic[i]);
            maxDiff = Math.Max(maxDiff, diff);
            maxAbs = Math.Max(maxAbs, Math.Abs(numeric));
            Assert.True(diff <= atol + rtol * Math.Max(Math.Abs(numeric), Math.Abs(analytic[i])),
                $"{name}[{i}]: analytic {analytic[i]:G6} vs finite difference {numeric:G6}");
        }
        output?.WriteLine($"{name}: max |analytic - numeric| = {maxDiff:E2} (max |grad| {maxAbs:E2}, {count} coordinates)");
        Assert.True(maxAbs > 0 || analytic.ToArray().All(a => a == 0), $"{name}: gradient is identically zero; the check proves nothing");
    }

    /// <summary>sum(out * probe) in double: a scalar whose gradient w.r.t. out is the probe.</summary>
    public static double Project(ReadOnlySpan<float> values, ReadOnlySpan<float> probe)
    {
        double s = 0;
        for (var i = 0; i < values.Length; i++) s += (double)values[i] * probe[i];
        return s;
    }

    public static float[] RandomArray(Random rng, int length, float std = 1f, float mean = 0f)
    {
        var a = new float[length];
        NirvanaCluster.Engine.Model.RandomWeights.Fill(rng, a, mean, std);
        return a;
    }
}
