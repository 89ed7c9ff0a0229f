using System.Text;
using NirvanaCluster.Engine.Tokenizers.Text;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>A <c>tokenizer.json</c> normalizer: rewrites a stretch of text between added tokens.</summary>
public interface INormalizer
{
    string Normalize(string text);
}

public sealed record UnicodeFormNormalizer(NormalizationForm Form) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalizer.Normalize(text, Form);
}

public sealed record LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary>Prepends <see cref="Prefix"/> to non-empty text (Llama-2's <c>Prepend("▁")</c>: SentencePiece's dummy prefix).</summary>
public sealed record PrependNormalizer(string Prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : Prefix + text;
}

/// <summary>Replaces every match of a literal or a regex (Llama-2's <c>Replace(" ", "▁")</c>).</summary>
public sealed record ReplaceNormalizer(TextPattern Pattern, string Content) : INormalizer
{
    public string Normalize(string text) => Pattern.ReplaceAll(text, Content);
}

public sealed record StripNormalizer(bool Left, bool Right) : INormalizer
{
    public string Normalize(string text) => (Left, Right) switch
    {
        (true, true) => text.Trim(),
        (true, false) => text.TrimStart(),
        (false, true) => text.TrimEnd(),
        _ => text,
    };
}

public sealed record SequenceNormalizer(IReadOnlyList<INormalizer> Steps) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var step in Steps) text = step.Normalize(text);
        return text;
    }
}
