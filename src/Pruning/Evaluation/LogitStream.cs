using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Evaluation;

/// <summary>
/// Runs a whole model over equal-length sequences in micro-batches and hands out one sequence's logits [T, V] at a
/// time, so the logits of the whole set never exist at once.
/// </summary>
public static class LogitStream
{
    public static void ForEach(LlamaShard model, IReadOnlyList<int[]> sequences, int microBatch, Action<int, float[]> onSequence,
        IProgress<int>? progress = null)
    {
        if (sequences.Count == 0) return;
        var t = sequences[0].Length;
        if (sequences.Any(s => s.Length != t)) throw new ArgumentException("sequences of one stream must have equal length");
        int d = model.Hidden, vocab = model.Vocab;
        var logits = new float[t * vocab];
        LayerTape? scratch = null;
        for (var first = 0; first < sequences.Count; first += microBatch)
        {
            var b = Math.Min(microBatch, sequences.Count - first);
            if (scratch is null || scratch.Batch != b) scratch = model.CreateScratch(b, t);
            var ids = new int[b * t];
            for (var i = 0; i < b; i++) sequences[first + i].CopyTo(ids, i * t);
            var x = new float[b * t * d];
            model.Embed(x, ids);
            model.ForwardLayers(x, b, t, scratch: scratch);
            var normed = new float[x.Length];
            model.FinalNormForward(normed, default, x, b * t);
            for (var i = 0; i < b; i++)
            {
                model.Logits(logits, normed.AsSpan(i * t * d, t * d), t);
                var bad = Engine.Tensors.NumericCheck.FirstNonFinite(logits);
                if (bad >= 0)
                    throw new InvalidDataException($"sequence {first + i}, position {bad / vocab}: the model's logits hold " +
                                                   $"{Engine.Tensors.NumericCheck.Describe(logits[bad])} (token {bad % vocab}); the weights overflow");
                onSequence(first + i, logits);
            }
            progress?.Report(first + b);
        }
    }
}
