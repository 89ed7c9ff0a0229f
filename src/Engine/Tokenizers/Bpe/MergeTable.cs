namespace NirvanaCluster.Engine.Tokenizers.Bpe;

/// <summary>
/// Which adjacent token pairs merge, into what, and in which order: a lower rank merges first.
/// Hugging Face BPE ranks by position in <c>merges</c>; llama2.c ranks by the merged piece's score.
/// </summary>
public sealed class MergeTable
{
    private readonly Dictionary<long, (int Rank, int Merged)> _pairs;

    public MergeTable(int capacity = 0) => _pairs = new Dictionary<long, (int, int)>(capacity);

    public int Count => _pairs.Count;

    /// <summary>Adds or replaces the merge of <paramref name="left"/> then <paramref name="right"/>.</summary>
    public void Set(int left, int right, int rank, int merged) => _pairs[Key(left, right)] = (rank, merged);

    public bool TryGet(int left, int right, out int rank, out int merged)
    {
        if (_pairs.TryGetValue(Key(left, right), out var entry))
        {
            (rank, merged) = entry;
            return true;
        }
        (rank, merged) = (0, 0);
        return false;
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
