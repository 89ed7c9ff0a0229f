using NirvanaCluster.Engine.Gguf;

namespace NirvanaCluster.Engine.Tests.Gguf;

public class Q8_0Tests
{
    [Fact]
    public void Quantizes_a_hand_computed_block_with_halves_rounded_away_from_zero()
    {
        // amax = 127/64, so d = 1/64 and id = 64 exactly; values k/128 land on x*id = k/2, exercising roundf's halves.
        var x = new float[32];
        float[] head = [127f / 64, -127f / 64, 0, 1f / 128, -1f / 128, 3f / 128, -3f / 128, 5f / 128, 0.25f, -0.125f, 1f, 0.999f];
        head.CopyTo(x, 0);
        var block = new byte[Q8_0.BlockBytes];
        Q8_0.QuantizeRow(x, block);

        Assert.Equal([0x00, 0x24], block[..2]); // F16 of 2^-6: exponent 9, mantissa 0
        sbyte[] expected = [127, -127, 0, 1, -1, 2, -2, 3, 16, -8, 64, 64]; // 0.999*64 = 63.936 -> 64
        Assert.Equal(expected, block[2..14].Select(b => (sbyte)b).ToArray());
        Assert.All(block[14..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void A_zero_block_has_scale_zero_and_dequantizes_to_zero()
    {
        var block = new byte[Q8_0.BlockBytes];
        Array.Fill(block, (byte)0xAA);
        Q8_0.QuantizeRow(new float[32], block);
        Assert.All(block, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Blocks_are_independent_and_the_round_trip_error_is_at_most_half_a_step()
    {
        var rng = new Random(3);
        var row = Enumerable.Range(0, 96).Select(i => (float)(rng.NextDouble() - 0.5) * (i < 32 ? 0.01f : i < 64 ? 1f : 100f)).ToArray();
        var bytes = new byte[3 * Q8_0.BlockBytes];
        Q8_0.QuantizeRow(row, bytes);
        var back = new float[96];
        Q8_0.DequantizeRow(bytes, back);
        for (var b = 0; b < 3; b++)
        {
            var block = row.AsSpan(b * 32, 32);
            var amax = 0f;
            foreach (var v in block) amax = Math.Max(amax, Math.Abs(v));
            var d = (float)(Half)(amax / 127);
            for (var j = 0; j < 32; j++)
                Assert.True(Math.Abs(back[b * 32 + j] - block[j]) <= d * 0.5 + amax * 1e-3, $"block {b} element {j}: {block[j]} -> {back[b * 32 + j]}");
        }
    }

    [Fact]
    public void Refuses_a_row_that_does_not_split_into_blocks()
    {
        Assert.Throws<ArgumentException>(() => Q8_0.QuantizeRow(new float[33], new byte[68]));
        Assert.Throws<ArgumentException>(() => GgmlType.Q8_0.RowBytes(200));
        Assert.Equal(7 * 34, GgmlType.Q8_0.RowBytes(224));
    }
}
