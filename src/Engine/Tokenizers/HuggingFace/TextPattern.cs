using System.Text;
using NirvanaCluster.Engine.Tokenizers.Text;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>The <c>{"String": ..}</c> or <c>{"Regex": ..}</c> pattern of a Split, Replace normalizer or decoder.</summary>
public sealed class TextPattern
{
    private readonly string? _literal;
    private readonly CodePointRegex? _regex;

    private TextPattern(string? literal, CodePointRegex? regex) => (_literal, _regex) = (literal, regex);

    public static TextPattern Literal(string text) => new(text, null);

    public static TextPattern Regex(string onigurumaPattern) => new(null, new CodePointRegex(onigurumaPattern));

    public override string ToString() => _literal is not null ? $"String({_literal})" : $"Regex({_regex!.Pattern})";

    /// <summary>Non-overlapping, non-empty matches, left to right.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        if (_regex is not null) return _regex.Matches(text);
        var found = new List<(int, int)>();
        if (_literal!.Length == 0) return found;
        for (var at = text.IndexOf(_literal, StringComparison.Ordinal); at >= 0;
             at = text.IndexOf(_literal, at + _literal.Length, StringComparison.Ordinal))
            found.Add((at, _literal.Length));
        return found;
    }

    public string ReplaceAll(string text, string content)
    {
        if (_literal is not null) return _literal.Length == 0 ? text : text.Replace(_literal, content, StringComparison.Ordinal);
        var matches = Matches(text);
        if (matches.Count == 0) return text;
        var builder = new StringBuilder(text.Length);
        var last = 0;
        foreach (var (start, length) in matches)
        {
            builder.Append(text, last, start - last).Append(content);
            last = start + length;
        }
        return builder.Append(text, last, text.Length - last).ToString();
    }
}
