using NirvanaCluster.Engine.Gguf;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>The export summary as the line a person reads and as the --json object.</summary>
public static class GgufSummaryText
{
    public static string Describe(GgufExportSummary s, string model)
    {
        var types = string.Join(", ", s.TensorsByType.OrderBy(p => p.Key).Select(p => $"{p.Value} {p.Key.Name()}"));
        var text = $"exported {model} -> {s.Output}: {s.DType.FlagName()}, {s.Bytes:N0} bytes, {s.Tensors} tensors ({types}), " +
                   $"vocabulary {s.Vocabulary.TokenizerModel}{(s.Vocabulary.PreTokenizer is { } pre ? "/" + pre : "")} of {s.Vocabulary.Tokens:N0} tokens";
        if (s.Fallbacks.Count > 0)
            text += $"\n  kept at F16 (rows not a multiple of 32, so no Q8_0): " +
                    string.Join(", ", s.Fallbacks.Select(f => $"{f.Tensor} (width {f.RowWidth})"));
        foreach (var note in s.Notes) text += $"\n  note: {note}";
        return text;
    }

    public static object Json(GgufExportSummary s, string model) => new
    {
        model,
        output = s.Output,
        dtype = s.DType.FlagName(),
        bytes = s.Bytes,
        tensors = s.Tensors,
        tensors_by_type = s.TensorsByType.ToDictionary(p => p.Key.Name(), p => p.Value),
        kept_f16 = s.Fallbacks.Select(f => new { tensor = f.Tensor, row_width = f.RowWidth }).ToArray(),
        tokenizer_model = s.Vocabulary.TokenizerModel,
        tokenizer_pre = s.Vocabulary.PreTokenizer,
        tokens = s.Vocabulary.Tokens,
        notes = s.Notes,
    };
}
