namespace NirvanaCluster.Engine.Tokenizers.Bpe;

/// <summary>
/// Byte-pair merging over a symbol sequence: repeatedly merge the adjacent pair of lowest rank, the leftmost
/// among equals, until no pair in the table remains. A heap of candidate pairs plus a linked list keeps it
/// O(n log n), so a long run (a SentencePiece "word" can be a whole text) stays cheap; stale heap entries are
/// recognised on pop by re-looking-up the pair, as Hugging Face's <c>Word::merge_all</c> does.
/// </summary>
public static class BpeMerger
{
    /// <summary>Merges <paramref name="symbols"/> in place; returns how many symbols remain at its front.</summary>
    public static int Merge(Span<int> symbols, MergeTable merges)
    {
        var n = symbols.Length;
        if (n < 2) return n;
        if (n == 2)
        {
            if (!merges.TryGet(symbols[0], symbols[1], out _, out var merged)) return 2;
            symbols[0] = merged;
            return 1;
        }

        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        var queue = new PriorityQueue<int, long>(n);
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
            if (i + 1 < n && merges.TryGet(symbols[i], symbols[i + 1], out var rank, out _))
                queue.Enqueue(i, Priority(rank, i));
        }

        while (queue.TryDequeue(out var left, out var priority))
        {
            var right = next[left];
            if (!alive[left] || right < 0) continue;
            if (!merges.TryGet(symbols[left], symbols[right], out var rank, out var merged) || Priority(rank, left) != priority)
                continue; // the pair this entry was queued for no longer exists

            symbols[left] = merged;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;

            if (prev[left] >= 0 && merges.TryGet(symbols[prev[left]], symbols[left], out var before, out _))
                queue.Enqueue(prev[left], Priority(before, prev[left]));
            if (next[left] >= 0 && merges.TryGet(symbols[left], symbols[next[left]], out var after, out _))
                queue.Enqueue(left, Priority(after, left));
        }

        var count = 0;
        for (var i = 0; i >= 0; i = next[i]) symbols[count++] = symbols[i];
        return count;
    }

    private static long Priority(int rank, int position) => ((long)rank << 32) | (uint)position;
}
