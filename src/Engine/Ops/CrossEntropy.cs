using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>Next-token negative log-likelihood over logits[rows, V] with targets[rows].</summary>
public static class CrossEntropy
{
    /// <summary>Returns the summed NLL in double precision; targets &lt; 0 are skipped.</summary>
    public static double Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int vocab)
    {
        if (logits.Length != targets.Length * vocab) throw new ArgumentException($"logits need rows*V = {targets.Length}*{vocab} elements");
        double total = 0;
        for (var r = 0; r < targets.Length; r++)
        {
            if (targets[r] < 0) continue;
            if (targets[r] >= vocab) throw new ArgumentOutOfRangeException(nameof(targets), $"target {targets[r]} at row {r} is outside [0, {vocab})");
            var row = logits.Slice(r * vocab, vocab);
            total += LogSumExp(row) - row[targets[r]];
        }
        return total;
    }

    /// <summary>dlogits[rows, V] (assigned) = scale * (softmax(logits) - onehot(target)); rows with target &lt; 0 get zero.</summary>
    public static void Backward(Span<float> dlogits, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int vocab, float scale)
    {
        if (dlogits.Length != logits.Length || logits.Length != targets.Length * vocab) throw new ArgumentException("dlogits and logits need rows*V elements");
        for (var r = 0; r < targets.Length; r++)
        {
            var d = dlogits.Slice(r * vocab, vocab);
            if (targets[r] < 0) { d.Clear(); continue; }
            TensorPrimitives.SoftMax(logits.Slice(r * vocab, vocab), d);
            d[targets[r]] -= 1f;
            TensorPrimitives.Multiply(d, scale, d);
        }
    }

    public static double LogSumExp(ReadOnlySpan<float> row)
    {
        var max = TensorPrimitives.Max(row);
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
