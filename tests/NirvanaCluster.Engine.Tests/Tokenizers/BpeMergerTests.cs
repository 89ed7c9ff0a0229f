using NirvanaCluster.Engine.Tokenizers.Bpe;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class BpeMergerTests
{
    /// <summary>The textbook loop: find the lowest-ranked adjacent pair (leftmost on ties), merge, repeat.</summary>
    private static List<int> NaiveMerge(IEnumerable<int> symbols, MergeTable merges)
    {
        var list = symbols.ToList();
        while (true)
        {
            var (best, bestRank, merged) = (-1, int.MaxValue, 0);
            for (var i = 0; i + 1 < list.Count; i++)
                if (merges.TryGet(list[i], list[i + 1], out var rank, out var into) && rank < bestRank)
                    (best, bestRank, merged) = (i, rank, into);
            if (best < 0) return list;
            list[best] = merged;
            list.RemoveAt(best + 1);
        }
    }

    [Fact]
    public void Matches_the_naive_loop_on_random_tables_and_words()
    {
        var random = new Random(1234);
        for (var trial = 0; trial < 300; trial++)
        {
            // symbols 0..3 are characters; merges build ids 4.. with ranks that may tie (llama2.c score ranks do)
            var merges = new MergeTable();
            var next = 4;
            for (var m = 0; m < 12; m++)
                merges.Set(random.Next(next), random.Next(next), rank: random.Next(8), merged: next++);
            var word = Enumerable.Range(0, random.Next(1, 40)).Select(_ => random.Next(4)).ToArray();
            var expected = NaiveMerge(word, merges);
            var count = BpeMerger.Merge(word, merges);
            Assert.Equal(expected, word[..count]);
        }
    }

    [Fact]
    public void Merges_equal_ranks_left_to_right()
    {
        var merges = new MergeTable();
        merges.Set(0, 0, rank: 0, merged: 1); // "aa"
        int[] word = [0, 0, 0];
        Assert.Equal(2, BpeMerger.Merge(word, merges));
        Assert.Equal([1, 0], word[..2]);
    }
}
