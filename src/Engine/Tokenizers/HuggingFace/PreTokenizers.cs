using System.Text;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>One piece of text on its way to the model; <see cref="AtTextStart"/> marks the piece that begins the
/// whole input (Metaspace's <c>prepend_scheme: "first"</c> adds its prefix only there).</summary>
public readonly record struct PreTokenSplit(string Text, bool AtTextStart);

/// <summary>A <c>tokenizer.json</c> pre-tokenizer: splits pieces further and/or rewrites them.</summary>
public interface IPreTokenizer
{
    List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits);
}

/// <summary>What a split does with the matched delimiters (Hugging Face <c>SplitDelimiterBehavior</c>).</summary>
public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Splits on a pattern: Llama-3's and Qwen2.5's word regexes are <c>Split(Regex, Isolated)</c>; with
/// <see cref="Invert"/> the matches are the pieces and the text between them the delimiters.
/// </summary>
public sealed record SplitPreTokenizer(TextPattern Pattern, SplitBehavior Behavior, bool Invert) : IPreTokenizer
{
    public List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits)
    {
        var output = new List<PreTokenSplit>(splits.Count * 4);
        foreach (var split in splits)
        {
            var first = output.Count;
            foreach (var piece in Split(split.Text)) output.Add(new PreTokenSplit(piece, false));
            if (split.AtTextStart && output.Count > first) output[first] = output[first] with { AtTextStart = true };
        }
        return output;
    }

    public List<string> Split(string text) => Apply(text, Pattern.Matches(text), Behavior, Invert);

    internal static List<string> Apply(string text, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert)
    {
        // (start, length, isDelimiter) covering the whole text
        var parts = new List<(int Start, int Length, bool Delimiter)>(matches.Count * 2 + 1);
        var last = 0;
        foreach (var (start, length) in matches)
        {
            if (start > last) parts.Add((last, start - last, invert));
            parts.Add((start, length, !invert));
            last = start + length;
        }
        if (last < text.Length) parts.Add((last, text.Length - last, invert));

        var pieces = new List<string>(parts.Count);
        var pendingStart = -1; // MergedWithNext: delimiter waiting for the following piece
        for (var i = 0; i < parts.Count; i++)
        {
            var (start, length, delimiter) = parts[i];
            switch (behavior)
            {
                case SplitBehavior.Removed:
                    if (!delimiter) pieces.Add(text.Substring(start, length));
                    break;
                case SplitBehavior.Isolated:
                    pieces.Add(text.Substring(start, length));
                    break;
                case SplitBehavior.Contiguous:
                    var end = start + length;
                    while (delimiter && i + 1 < parts.Count && parts[i + 1].Delimiter)
                    {
                        i++;
                        end = parts[i].Start + parts[i].Length;
                    }
                    pieces.Add(text[start..end]);
                    break;
                case SplitBehavior.MergedWithPrevious:
                    if (delimiter && pieces.Count > 0 && i > 0 && !parts[i - 1].Delimiter)
                        pieces[^1] += text.Substring(start, length);
                    else pieces.Add(text.Substring(start, length));
                    break;
                case SplitBehavior.MergedWithNext:
                    if (delimiter)
                    {
                        if (pendingStart >= 0) pieces.Add(text[pendingStart..start]);
                        pendingStart = start;
                    }
                    else
                    {
                        pieces.Add(text[(pendingStart >= 0 ? pendingStart : start)..(start + length)]);
                        pendingStart = -1;
                    }
                    break;
            }
        }
        if (pendingStart >= 0) pieces.Add(text[pendingStart..]);
        return pieces;
    }
}

/// <summary>
/// GPT-2 byte-level step: optionally prefixes a space, optionally splits with GPT-2's own word regex, then writes
/// every piece's UTF-8 bytes in <see cref="ByteLevelAlphabet"/> characters, the alphabet the vocabulary uses.
/// </summary>
public sealed record ByteLevelPreTokenizer(bool AddPrefixSpace, bool UseRegex) : IPreTokenizer
{
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly Lazy<TextPattern> Gpt2 = new(() => TextPattern.Regex(Gpt2Pattern));

    public List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits)
    {
        var output = new List<PreTokenSplit>(splits.Count);
        foreach (var split in splits)
        {
            var text = AddPrefixSpace && !split.Text.StartsWith(' ') ? " " + split.Text : split.Text;
            if (!UseRegex)
            {
                output.Add(new PreTokenSplit(ToAlphabet(text), split.AtTextStart));
                continue;
            }
            var pieces = SplitPreTokenizer.Apply(text, Gpt2.Value.Matches(text), SplitBehavior.Isolated, invert: false);
            for (var i = 0; i < pieces.Count; i++) output.Add(new PreTokenSplit(ToAlphabet(pieces[i]), split.AtTextStart && i == 0));
        }
        return output;
    }

    private static string ToAlphabet(string text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var bytes = byteCount <= 512 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        return ByteLevelAlphabet.Encode(bytes);
    }
}

/// <summary>Where Metaspace puts its replacement character in front of a piece.</summary>
public enum PrependScheme { Always, Never, First }

/// <summary>
/// SentencePiece's whitespace handling: spaces become <see cref="Replacement"/> ("▁"), a prefix "▁" is added per
/// <see cref="Scheme"/>, and with <see cref="SplitOnReplacement"/> each "▁" starts a new piece.
/// </summary>
public sealed record MetaspacePreTokenizer(char Replacement, PrependScheme Scheme, bool SplitOnReplacement) : IPreTokenizer
{
    public List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits)
    {
        var output = new List<PreTokenSplit>(splits.Count);
        var literal = TextPattern.Literal(Replacement.ToString());
        foreach (var split in splits)
        {
            // The prefix test looks at the text before spaces are replaced, as Hugging Face's does: " x" becomes "▁▁x".
            var prepend = Scheme == PrependScheme.Always || (Scheme == PrependScheme.First && split.AtTextStart);
            var text = (prepend && !split.Text.StartsWith(Replacement) ? Replacement + split.Text : split.Text).Replace(' ', Replacement);
            if (!SplitOnReplacement)
            {
                output.Add(split with { Text = text });
                continue;
            }
            var pieces = SplitPreTokenizer.Apply(text, literal.Matches(text), SplitBehavior.MergedWithNext, invert: false);
            for (var i = 0; i < pieces.Count; i++) output.Add(new PreTokenSplit(pieces[i], split.AtTextStart && i == 0));
        }
        return output;
    }
}

/// <summary>Splits digits from the rest; with <see cref="IndividualDigits"/> every digit stands alone.</summary>
public sealed record DigitsPreTokenizer(bool IndividualDigits) : IPreTokenizer
{
    private static readonly Lazy<TextPattern> Runs = new(() => TextPattern.Regex(@"\p{Nd}+"));
    private static readonly Lazy<TextPattern> Singles = new(() => TextPattern.Regex(@"\p{Nd}"));

    public List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits) =>
        new SplitPreTokenizer((IndividualDigits ? Singles : Runs).Value, SplitBehavior.Isolated, false).PreTokenize(splits);
}

public sealed record SequencePreTokenizer(IReadOnlyList<IPreTokenizer> Steps) : IPreTokenizer
{
    public List<PreTokenSplit> PreTokenize(List<PreTokenSplit> splits)
    {
        foreach (var step in Steps) splits = step.PreTokenize(splits);
        return splits;
    }
}
