namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// Finds added tokens in text, leftmost first and longest at a position (Hugging Face's aho-corasick
/// LeftmostLongest), with a character trie, and cuts the text into plain stretches and token ids.
/// </summary>
public sealed class AddedTokenMatcher
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
    }

    private readonly Node _root = new();

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        foreach (var token in tokens)
        {
            if (token.Content.Length == 0) continue;
            var node = _root;
            foreach (var c in token.Content)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Token ??= token;
            IsEmpty = false;
        }
    }

    public bool IsEmpty { get; } = true;

    /// <summary>A stretch of plain text (<see cref="TokenId"/> null) or one matched token.</summary>
    public readonly record struct Segment(string? Text, int? TokenId, int Start);

    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        if (IsEmpty)
        {
            if (text.Length > 0) segments.Add(new Segment(text, null, 0));
            return segments;
        }

        var plainStart = 0;
        var position = 0;
        while (position < text.Length)
        {
            if (!TryMatchAt(text, position, out var token, out var length) || !FitsWord(token!, text, position, length))
            {
                position += length > 0 ? length : 1; // a rejected single_word match is skipped whole, as HF does
                continue;
            }
            var start = position;
            var end = position + length;
            if (token!.LStrip) while (start > plainStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > plainStart) segments.Add(new Segment(text[plainStart..start], null, plainStart));
            segments.Add(new Segment(null, token.Id, start));
            plainStart = position = end;
        }
        if (plainStart < text.Length) segments.Add(new Segment(text[plainStart..], null, plainStart));
        return segments;
    }

    private bool TryMatchAt(string text, int position, out AddedToken? token, out int length)
    {
        token = null;
        length = 0;
        var node = _root;
        for (var i = position; i < text.Length && node.Children is not null && node.Children.TryGetValue(text[i], out node); i++)
        {
            if (node.Token is null) continue;
            token = node.Token;
            length = i - position + 1;
        }
        return token is not null;
    }

    private static bool FitsWord(AddedToken token, string text, int start, int length)
    {
        if (!token.SingleWord) return true;
        var end = start + length;
        var startsWord = start == 0 || !IsWordChar(text[start - 1]);
        var endsWord = end == text.Length || !IsWordChar(text[end]);
        return startsWord && endsWord;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
