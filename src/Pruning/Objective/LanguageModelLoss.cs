using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;

namespace NirvanaCluster.Pruning.Objective;

/// <summary>Mean next-token cross-entropy over the whole calibration batch (the taylor-loss baseline).</summary>
public sealed class LanguageModelLoss(int totalSequences) : IHeadObjective
{
    public double ForwardBackward(LlamaShard head, ReadOnlySpan<float> x, Span<float> dx, ReadOnlySpan<int> tokens, int batch, int positions)
    {
        int d = head.Hidden, vocab = head.Vocab, n = batch * positions;
        var normed = new float[n * d];
        var rstd = new float[n];
        head.FinalNormForward(normed, rstd, x, n);
        var dNormed = new float[n * d];
        var logits = new float[positions * vocab];
        var dLogits = new float[positions * vocab];
        var targets = new int[positions];
        var scale = 1f / ((float)totalSequences * (positions - 1));
        double total = 0;
        for (var b = 0; b < batch; b++)
        {
            for (var t = 0; t < positions; t++) targets[t] = t + 1 < positions ? tokens[b * positions + t + 1] : -1;
            head.Logits(logits, normed.AsSpan(b * positions * d, positions * d), positions);
            total += CrossEntropy.Forward(logits, targets, vocab) * scale;
            CrossEntropy.Backward(dLogits, logits, targets, vocab, scale);
            head.LogitsBackward(dNormed.AsSpan(b * positions * d, positions * d), dLogits, positions);
        }
        dx.Clear();
        head.FinalNormBackward(dx, dNormed, x, rstd, n);
        return total;
    }
}
