using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

/// <summary>The project's engine on the same question llama.cpp answers: log p(ids[t+1] | ids[..t]) at every position.</summary>
public static class EngineLogProbs
{
    public static double[][] Of(LlamaShard model, IReadOnlyList<int[]> sequences) => sequences.Select(ids =>
    {
        int t = ids.Length, d = model.Hidden, v = model.Vocab;
        var x = new float[t * d];
        model.Embed(x, ids);
        model.ForwardLayers(x, 1, t);
        var normed = new float[x.Length];
        model.FinalNormForward(normed, default, x, t);
        var logits = new float[t * v];
        model.Logits(logits, normed, t);
        var row = new double[t - 1];
        for (var p = 0; p + 1 < t; p++)
        {
            var z = logits.AsSpan(p * v, v);
            double max = double.NegativeInfinity, sum = 0;
            foreach (var l in z) max = Math.Max(max, l);
            foreach (var l in z) sum += Math.Exp(l - max);
            row[p] = z[ids[p + 1]] - max - Math.Log(sum);
        }
        return row;
    }).ToArray();

    public static double MaxAbsDifference(double[][] a, double[][] b)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i].Length, b[i].Length);
            for (var j = 0; j < a[i].Length; j++) max = Math.Max(max, Math.Abs(a[i][j] - b[i][j]));
        }
        return max;
    }

    /// <summary>exp(mean negative log-probability) over every predicted token.</summary>
    public static double Perplexity(double[][] logProbs) => Math.Exp(-logProbs.SelectMany(r => r).Average());
}
