using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Pruning.Objective;

/// <summary>Mean next-token cross-entropy over the whole calibration batch (the taylor-loss baseline).</summary>
public sealed class LanguageModelLoss(int totalSequences) : IHeadObjective
{
    public double ForwardBackward(LlamaShard head, ReadOnlySpan<float> x, Span<float> dx, ReadOnlySpan<int> tokens, int batch, int positions)
    {
        int d = head.Hidden, vocab = head.Vocab, n = batch * positions;
        using var pool = new PooledBuffers();
        var normed = pool.Floats(n * d);
        var rstd = pool.Floats(n);
        head.FinalNormForward(normed, rstd, x, n);
        var dNormed = pool.Floats(n * d);
        var logits = pool.Floats(positions * vocab);
        var dLogits = pool.Floats(positions * vocab);
        var targets = pool.Ints(positions);
        var scale = 1f / ((float)totalSequences * (positions - 1));
        double total = 0;
        for (var b = 0; b < batch; b++)
        {
            for (var t = 0; t < positions; t++) targets[t] = t + 1 < positions ? tokens[b * positions + t + 1] : -1;
            head.Logits(logits, normed.Slice(b * positions * d, positions * d), positions);
            total += CrossEntropy.Forward(logits, targets, vocab) * scale;
            CrossEntropy.Backward(dLogits, logits, targets, vocab, scale);
            head.LogitsBackward(dNormed.Slice(b * positions * d, positions * d), dLogits, positions);
        }
        dx.Clear();
        head.FinalNormBackward(dx, dNormed, x, rstd, n);
        return total;
    }
}
