using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Gguf;

namespace NirvanaCluster.Engine.Tests.Gguf;

public class RotaryPermutationTests
{
    [Fact]
    public void Puts_each_heads_halves_into_interleaved_pairs()
    {
        // One head of width 4 with one column: rotate-half pairs (0, 2) and (1, 3) become (0, 1) and (2, 3).
        Assert.Equal([10f, 12f, 11f, 13f], RotaryPermutation.HalvesToInterleaved([10f, 11f, 12f, 13f], heads: 1, rows: 4, columns: 1));
        // Two heads permute separately.
        Assert.Equal([0f, 2f, 1f, 3f, 4f, 6f, 5f, 7f], RotaryPermutation.HalvesToInterleaved([0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f], 2, 8, 1));
    }

    [Theory]
    [InlineData(1, 8, 3)]
    [InlineData(3, 16, 5)]
    [InlineData(8, 48, 2)]
    public void Is_the_inverse_of_the_llama2c_converters_permutation(int heads, int headDim, int columns)
    {
        var rows = heads * headDim;
        var rng = new Random(heads * 100 + headDim);
        var weight = Enumerable.Range(0, rows * columns).Select(_ => (float)rng.NextDouble()).ToArray();
        var halves = Llama2cModelConverter.InterleavedToHalves(weight, heads, rows, columns);
        Assert.Equal(weight, RotaryPermutation.HalvesToInterleaved(halves, heads, rows, columns));
        Assert.Equal(weight, Llama2cModelConverter.InterleavedToHalves(RotaryPermutation.HalvesToInterleaved(weight, heads, rows, columns), heads, rows, columns));
    }

    [Fact]
    public void Refuses_rows_that_do_not_split_into_heads_of_pairs()
    {
        Assert.Throws<ArgumentException>(() => RotaryPermutation.HalvesToInterleaved(new float[6], 2, 6, 1)); // head width 3
        Assert.Throws<ArgumentException>(() => RotaryPermutation.HalvesToInterleaved(new float[8], 3, 8, 1));
    }
}
