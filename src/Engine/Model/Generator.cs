using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>Continues prompts with a whole model: greedy at temperature 0, seeded sampling otherwise.</summary>
public static class Generator
{
    /// <summary>
    /// Continues B prompts of equal length in lock-step for exactly <paramref name="newTokens"/> tokens (no early stop,
    /// so the results have equal length). <paramref name="onToken"/> sees each sequence's new tokens as they come.
    /// </summary>
    public static int[][] Generate(LlamaShard model, IReadOnlyList<int[]> prompts, int newTokens, float temperature, int seed,
        Action<int, int>? onToken = null, int? stopToken = null)
    {
        var batch = prompts.Count;
        var promptLength = prompts[0].Length;
        if (promptLength == 0 || prompts.Any(p => p.Length != promptLength)) throw new ArgumentException("prompts must be non-empty and of equal length");
        var total = promptLength + newTokens;
        var decoder = new IncrementalDecoder(model, batch, total);
        var samplers = Enumerable.Range(0, batch).Select(i => new Sampler(model.Vocab, temperature, seed + i)).ToArray();
        var outputs = prompts.Select(p => new List<int>(p)).ToArray();
        var logits = new float[batch * model.Vocab];
        var step = new int[batch];
        var stopped = new bool[batch];
        for (var t = 0; t < total - 1; t++)
        {
            for (var b = 0; b < batch; b++) step[b] = outputs[b][t];
            decoder.Step(step, logits);
            if (t + 1 < promptLength) continue;
            if (!NumericCheck.AllFinite(logits))
                throw new InvalidDataException(
                    $"generation step {t + 1 - promptLength} (position {t}): the model's logits hold NaN or infinity; the weights or the config are broken");
            for (var b = 0; b < batch; b++)
            {
                var next = samplers[b].Next(logits.AsSpan(b * model.Vocab, model.Vocab));
                outputs[b].Add(next);
                if (!stopped[b]) onToken?.Invoke(b, next);
                if (next == stopToken) stopped[b] = true;
            }
            if (stopToken is not null && stopped.All(s => s)) break;
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }
}
