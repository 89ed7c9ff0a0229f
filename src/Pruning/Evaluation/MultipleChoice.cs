using System.Text;
using System.Text.Json;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Ops;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Pruning.Calibration;

namespace NirvanaCluster.Pruning.Evaluation;

/// <summary>One zero-shot question: a context, the candidate continuations, and the index of the right one.</summary>
public sealed record MultipleChoiceItem(string Context, IReadOnlyList<string> Choices, int Gold);

/// <summary>acc: the best summed log-likelihood wins; acc_norm: the best log-likelihood per byte of the choice.</summary>
public sealed record MultipleChoiceResult(string Task, int Items, double Accuracy, double NormalizedAccuracy);

/// <summary>
/// Zero-shot multiple choice with lm-evaluation-harness conventions: a choice's score is the sum of its tokens'
/// log-likelihoods given the context, where its tokens are those of encode(context + choice) beyond encode(context).
/// </summary>
public static class MultipleChoice
{
    public static IReadOnlyList<MultipleChoiceItem> Load(string path)
    {
        var items = JsonLines.Read(path, root =>
        {
            var context = JsonLines.RequiredString(root, "context");
            if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() < 2)
                throw new InvalidDataException("field 'choices' must be an array of at least two strings");
            var list = choices.EnumerateArray().Select(c => c.ValueKind == JsonValueKind.String ? c.GetString()! : throw new InvalidDataException("field 'choices' must hold strings")).ToArray();
            if (!root.TryGetProperty("gold", out var gold) || !gold.TryGetInt32(out var g) || g < 0 || g >= list.Length)
                throw new InvalidDataException($"field 'gold' must be an index into choices [0, {list.Length})");
            return new MultipleChoiceItem(context, list, g);
        });
        if (items.Count == 0) throw new InvalidDataException($"{path}: no questions");
        return items;
    }

    public static MultipleChoiceResult Evaluate(string task, LlamaShard model, ITokenizer tokenizer, IReadOnlyList<MultipleChoiceItem> items, IProgress<int>? progress = null)
    {
        int correct = 0, correctNorm = 0;
        for (var q = 0; q < items.Count; q++)
        {
            var item = items[q];
            var contextIds = tokenizer.Encode(item.Context, tokenizer.AddBosByDefault);
            var scores = new double[item.Choices.Count];
            var normalized = new double[item.Choices.Count];
            for (var c = 0; c < item.Choices.Count; c++)
            {
                var whole = tokenizer.Encode(item.Context + item.Choices[c], tokenizer.AddBosByDefault);
                var shared = CommonPrefix(contextIds, whole);
                if (shared == whole.Length) shared = Math.Max(0, whole.Length - 1); // an empty continuation scores its last token
                shared = Math.Max(shared, 1);
                scores[c] = ContinuationLogLikelihood(model, whole, shared);
                normalized[c] = scores[c] / Math.Max(1, Encoding.UTF8.GetByteCount(item.Choices[c]));
            }
            if (ArgMax(scores) == item.Gold) correct++;
            if (ArgMax(normalized) == item.Gold) correctNorm++;
            progress?.Report(q + 1);
        }
        return new MultipleChoiceResult(task, items.Count, (double)correct / items.Count, (double)correctNorm / items.Count);
    }

    /// <summary>Sum of log P(ids[t] | ids[..t]) for t from <paramref name="start"/> on.</summary>
    internal static double ContinuationLogLikelihood(LlamaShard model, int[] ids, int start)
    {
        double total = 0;
        LogitStream.ForEach(model, [ids], 1, (_, logits) =>
        {
            for (var t = start; t < ids.Length; t++)
            {
                var row = logits.AsSpan((t - 1) * model.Vocab, model.Vocab);
                total += row[ids[t]] - CrossEntropy.LogSumExp(row);
            }
        });
        return total;
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    private static int ArgMax(double[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
