using System.Globalization;
using System.Text;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// A <c>tokenizer.json</c> decoder step over the token strings. <paramref name="atSequenceStart"/> is false when a
/// single token is rendered out of context, so steps that undo the sequence-initial dummy prefix (Strip, Metaspace)
/// leave it alone: "▁Hello" alone is " Hello", at the start of a text it is "Hello".
/// </summary>
public interface ITokenDecoder
{
    List<string> Decode(List<string> tokens, bool atSequenceStart);
}

/// <summary>Maps <see cref="ByteLevelAlphabet"/> characters back to bytes and the bytes to UTF-8 text; a token with
/// a character outside the alphabet (an added token such as "&lt;|eot_id|&gt;" is inside it) keeps its own text.</summary>
public sealed record ByteLevelDecoder : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            var mark = bytes.Count;
            foreach (var c in token)
            {
                if (ByteLevelAlphabet.TryDecode(c, out var b)) bytes.Add(b);
                else
                {
                    bytes.RemoveRange(mark, bytes.Count - mark);
                    bytes.AddRange(Encoding.UTF8.GetBytes(token));
                    break;
                }
            }
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

public sealed record ReplaceDecoder(TextPattern Pattern, string Content) : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart) =>
        tokens.ConvertAll(token => Pattern.ReplaceAll(token, Content));
}

/// <summary>Turns runs of "&lt;0xNN&gt;" tokens into the UTF-8 text of their bytes; a run that is not valid UTF-8
/// becomes one U+FFFD per byte, as Hugging Face's ByteFallback decoder does.</summary>
public sealed record ByteFallbackDecoder : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart)
    {
        var output = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out var value))
            {
                pending.Add(value);
                continue;
            }
            Flush();
            output.Add(token);
        }
        Flush();
        return output;

        void Flush()
        {
            if (pending.Count == 0) return;
            var bytes = pending.ToArray();
            pending.Clear();
            try
            {
                output.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes));
            }
            catch (DecoderFallbackException)
            {
                for (var i = 0; i < bytes.Length; i++) output.Add("\uFFFD");
            }
        }
    }

    /// <summary>"&lt;0x0A&gt;" -> 0x0A.</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
               && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}

public sealed record FuseDecoder : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart) => [string.Concat(tokens)];
}

/// <summary>Removes up to <see cref="Start"/> leading and <see cref="Stop"/> trailing <see cref="Content"/>
/// characters of every token (after Fuse: of the text); Llama-2 uses it to drop the dummy-prefix space.</summary>
public sealed record StripDecoder(char Content, int Start, int Stop) : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart) => tokens.ConvertAll(token =>
    {
        var from = 0;
        while (atSequenceStart && from < Start && from < token.Length && token[from] == Content) from++;
        var to = token.Length;
        while (to > from && token.Length - to < Stop && token[to - 1] == Content) to--;
        return token[from..to];
    });
}

/// <summary>"▁" back to spaces, dropping the prefix "▁" of the first token unless the scheme never adds one.</summary>
public sealed record MetaspaceDecoder(char Replacement, PrependScheme Scheme) : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart)
    {
        var output = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (i == 0 && atSequenceStart && Scheme != PrependScheme.Never && token.StartsWith(Replacement)) token = token[1..];
            output.Add(token.Replace(Replacement, ' '));
        }
        return output;
    }
}

public sealed record SequenceDecoder(IReadOnlyList<ITokenDecoder> Steps) : ITokenDecoder
{
    public List<string> Decode(List<string> tokens, bool atSequenceStart)
    {
        foreach (var step in Steps) tokens = step.Decode(tokens, atSequenceStart);
        return tokens;
    }
}
