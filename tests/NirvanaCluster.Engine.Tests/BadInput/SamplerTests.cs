using FsCheck;
using FsCheck.Fluent;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests.BadInput;

/// <summary>
/// Class 2 of the bad-input sweep: sampling at low temperature. Before the fix, logits / T overflowed exp for any
/// T up to ~0.2 and every draw returned the last id.
/// </summary>
public class SamplerTests
{
    /// <summary>Logits of the tiny random model after a two-token prompt, scaled to span <paramref name="range"/>.</summary>
    private static float[] ModelLogits(float range)
    {
        var model = RandomWeights.Create(TestConfigs.Tiny(), seed: 2, std: 0.3f);
        var decoder = new IncrementalDecoder(model, 1, 2);
        var logits = new float[model.Vocab];
        decoder.Step([1], logits);
        decoder.Step([2], logits);
        var scale = range / (logits.Max() - logits.Min());
        return logits.Select(l => l * scale).ToArray();
    }

    [Fact]
    public void Low_temperatures_pick_the_arg_max_not_the_last_id()
    {
        var logits = ModelLogits(40f); // logits spanning 40: exp(logit / 0.1) overflows float without the max subtracted
        var argMax = Array.IndexOf(logits, logits.Max());
        Assert.NotEqual(logits.Length - 1, argMax);
        foreach (var t in new[] { 0.2f, 0.05f, 1e-3f, 1e-6f, 1e-30f, float.Epsilon })
        {
            var sampler = new Sampler(logits.Length, t, seed: 7);
            for (var i = 0; i < 200; i++) Assert.Equal(argMax, sampler.Next(logits));
        }
    }

    [Fact]
    public void As_T_goes_to_zero_sampling_converges_to_greedy_for_any_logits()
    {
        // Any logits with a unique maximum ahead of the runner-up by margin d: at T = d / 60, the runner-up's weight
        // is at most V * exp(-60) < 1e-24 of the arg-max's, so every draw of 50 must be the arg-max.
        var gen = Gen.Choose(2, 64).SelectMany(v => Gen.Choose(-1_000_000, 1_000_000).ArrayOf(v))
            .Select(a => a.Select(x => x / 1000f).ToArray())
            .Where(a => { var s = a.OrderDescending().ToArray(); return s[0] - s[1] > 1e-2f; });
        Prop.ForAll(gen.ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (logits, seed) =>
        {
            var sorted = logits.OrderDescending().ToArray();
            var t = (sorted[0] - sorted[1]) / 60f;
            var argMax = Array.IndexOf(logits, sorted[0]);
            var sampler = new Sampler(logits.Length, t, seed);
            return Enumerable.Range(0, 50).All(_ => sampler.Next(logits) == argMax);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Generation_at_a_tiny_temperature_equals_greedy_generation()
    {
        var model = RandomWeights.Create(TestConfigs.Tiny(), seed: 2, std: 0.3f);
        var greedy = Generator.Generate(model, [[1, 2]], 12, 0, seed: 1);
        var cold = Generator.Generate(model, [[1, 2]], 12, 1e-6f, seed: 1);
        Assert.Equal(greedy[0], cold[0]);
    }

    [Fact]
    public void Sampled_frequencies_match_the_softmax_at_temperature_one()
    {
        var logits = ModelLogits(3f);
        // Independent oracle: the softmax in double precision, written out here.
        var max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        var p = e.Select(x => x / e.Sum()).ToArray();
        const int draws = 40_000;
        var counts = new int[logits.Length];
        var sampler = new Sampler(logits.Length, 1f, seed: 11);
        for (var i = 0; i < draws; i++) counts[sampler.Next(logits)]++;

        // Pearson's chi-square; bins with expected count < 5 are pooled, as the test requires.
        var bins = new List<(double Expected, int Observed)>();
        double pooledExpected = 0;
        var pooledObserved = 0;
        for (var v = 0; v < p.Length; v++)
        {
            if (p[v] * draws >= 5) bins.Add((p[v] * draws, counts[v]));
            else { pooledExpected += p[v] * draws; pooledObserved += counts[v]; }
        }
        if (pooledExpected > 0) bins.Add((pooledExpected, pooledObserved));
        var chi2 = bins.Sum(b => (b.Observed - b.Expected) * (b.Observed - b.Expected) / b.Expected);
        var dof = bins.Count - 1;
        Assert.True(dof >= 8, $"only {dof + 1} bins: the test distribution is too peaked to say much");
        // Critical value at p = 0.001 by the Wilson-Hilferty approximation (within 1% of the tables for dof >= 8).
        var z = 3.0902;
        var critical = dof * Math.Pow(1 - 2.0 / (9 * dof) + z * Math.Sqrt(2.0 / (9 * dof)), 3);
        Assert.True(chi2 < critical, $"chi-square {chi2:F1} with {dof} degrees of freedom exceeds {critical:F1} (p < 0.001)");

        // And a biased sampler would be caught: the same draws against a softmax at T = 1.2 fail the test.
        var e2 = logits.Select(l => Math.Exp((l - max) / 1.2)).ToArray();
        var chi2Wrong = Enumerable.Range(0, p.Length).Where(v => p[v] * draws >= 5)
            .Sum(v => { var x = e2[v] / e2.Sum() * draws; return (counts[v] - x) * (counts[v] - x) / x; });
        Assert.True(chi2Wrong > critical, $"the test cannot tell T = 1 from T = 1.2 (chi-square {chi2Wrong:F1})");
    }

    [Fact]
    public void Non_finite_logits_are_named_with_the_step()
    {
        var config = TestConfigs.Tiny();
        var model = RandomWeights.Create(config, seed: 2, std: 0.3f);
        model.LmHead!.Single[5] = float.NaN;
        var e = Assert.Throws<InvalidDataException>(() => Generator.Generate(model, [[1, 2]], 4, 1f, seed: 1));
        Assert.Contains("generation step 0", e.Message);
        Assert.Contains("NaN or infinity", e.Message);
    }
}
