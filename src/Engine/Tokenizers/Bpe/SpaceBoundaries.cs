namespace NirvanaCluster.Engine.Tokenizers.Bpe;

/// <summary>
/// Cuts SentencePiece-style text into words that BPE can encode one at a time (and cache). SentencePiece pieces
/// may start with any number of spaces but never hold a space after another character, so no merge can join
/// across a point where a space follows a non-space; cutting there changes no result. Whether a vocabulary keeps
/// that rule is checked, not assumed: <see cref="VocabularyAllows"/>.
/// </summary>
public static class SpaceBoundaries
{
    public static bool VocabularyAllows(IEnumerable<string> pieces, char space) =>
        !pieces.Any(piece => HasSpaceAfterOther(piece, space));

    /// <summary>Calls <paramref name="word"/> with each word's start and length, in order.</summary>
    public static void Split(string text, char space, Action<int, int> word)
    {
        var start = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (text[i] != space || text[i - 1] == space) continue;
            word(start, i - start);
            start = i;
        }
        if (start < text.Length) word(start, text.Length - start);
    }

    private static bool HasSpaceAfterOther(string piece, char space)
    {
        for (var i = 1; i < piece.Length; i++)
            if (piece[i] == space && piece[i - 1] != space) return true;
        return false;
    }
}
