using System.Runtime.InteropServices;

namespace NirvanaCluster.Engine.Tokenizers;

/// <summary>
/// Turns generated token ids into text as it becomes printable: a token that ends inside a multi-byte UTF-8
/// character (byte-level BPE splits emoji and CJK across tokens) is held back until the character completes.
/// Works for any <see cref="ITokenizer"/> by decoding a short window twice, with and without the newest tokens,
/// and emitting the difference; the window restarts after each emission, so the cost per token stays constant
/// and context-dependent rules (the dropped dummy-prefix space) act on both decodes alike.
/// </summary>
public sealed class StreamingDecoder
{
    private const int ContextTokens = 4;

    private readonly ITokenizer _tokenizer;
    private readonly List<int> _ids = [];
    private int _prefixStart; // window start: tokens before it are printed and no longer needed
    private int _readStart;   // tokens before it are printed

    /// <param name="context">Ids already in the sequence and not to be printed (the prompt); the last few give the
    /// first generated token its context, so " world" after "Hello" keeps its space.</param>
    public StreamingDecoder(ITokenizer tokenizer, ReadOnlySpan<int> context = default)
    {
        _tokenizer = tokenizer;
        var kept = context[Math.Max(0, context.Length - ContextTokens)..];
        _ids.AddRange(kept);
        _readStart = _ids.Count;
    }

    /// <summary>Adds one token; returns the text it completes, possibly empty.</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var window = CollectionsMarshal.AsSpan(_ids);
        var printed = _tokenizer.Decode(window[_prefixStart.._readStart]);
        var full = _tokenizer.Decode(window[_prefixStart..]);
        if (full.Length <= printed.Length || full.EndsWith('\uFFFD') || !full.StartsWith(printed, StringComparison.Ordinal))
            return string.Empty;

        _prefixStart = _readStart;
        _readStart = _ids.Count;
        Compact();
        return full[printed.Length..];
    }

    /// <summary>Whatever is still held back (an incomplete character comes out as U+FFFD).</summary>
    public string Flush()
    {
        var window = CollectionsMarshal.AsSpan(_ids);
        var printed = _tokenizer.Decode(window[_prefixStart.._readStart]);
        var full = _tokenizer.Decode(window[_prefixStart..]);
        _prefixStart = _readStart = _ids.Count;
        return full.Length > printed.Length && full.StartsWith(printed, StringComparison.Ordinal) ? full[printed.Length..] : string.Empty;
    }

    private void Compact()
    {
        if (_prefixStart < 64) return;
        _ids.RemoveRange(0, _prefixStart);
        _readStart -= _prefixStart;
        _prefixStart = 0;
    }
}
