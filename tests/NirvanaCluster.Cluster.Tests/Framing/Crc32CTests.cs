using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Cluster.Tests.Framing;

public class Crc32CTests
{
    /// <summary>Bit-at-a-time CRC-32C straight from the definition: the oracle for the table and intrinsic paths.</summary>
    private static uint Bitwise(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void Matches_the_published_check_value_for_123456789()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0xE3069283u, ~Crc32C.UpdateTable(~0u, "123456789"u8));
    }

    [Fact]
    public void Matches_published_iSCSI_vectors()
    {
        // RFC 3720, appendix B.4: 32 bytes of zeros, of 0xFF, and ascending 0..31.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Every_length_and_alignment_matches_the_bitwise_oracle()
    {
        var random = new Random(7);
        var data = new byte[300];
        random.NextBytes(data);
        for (var offset = 0; offset < 8; offset++)
            for (var length = 0; length <= data.Length - offset; length++)
            {
                var slice = data.AsSpan(offset, length);
                var expected = Bitwise(slice);
                Assert.Equal(expected, Crc32C.Compute(slice));
                Assert.Equal(expected, ~Crc32C.UpdateTable(~0u, slice));
            }
    }

    [Fact]
    public void Long_inputs_split_into_interleaved_chains_match_the_table_oracle()
    {
        // The three-chain path starts at 3 KiB; lengths around that, odd tails and a chunk-sized buffer, at every alignment.
        var random = new Random(5);
        var data = new byte[(1 << 20) + 40];
        random.NextBytes(data);
        foreach (var length in new[] { 3071, 3072, 3073, 3079, 3080, 4096, 9999, 65536 + 13, 1 << 20 })
            for (var offset = 0; offset < 8; offset++)
            {
                var slice = data.AsSpan(offset, length);
                Assert.Equal(~Crc32C.UpdateTable(~0u, slice), Crc32C.Compute(slice));
                Assert.Equal(~Crc32C.UpdateTable(~Crc32C.Compute("seed"u8), slice), Crc32C.Append(Crc32C.Compute("seed"u8), slice));
            }
    }

    [Fact]
    public void Append_and_Combine_equal_the_CRC_of_the_concatenation()
    {
        var random = new Random(11);
        var data = new byte[5000];
        random.NextBytes(data);
        foreach (var split in new[] { 0, 1, 7, 8, 1000, 4095, 4999, 5000 })
        {
            var a = data.AsSpan(0, split);
            var b = data.AsSpan(split);
            var whole = Crc32C.Compute(data);
            Assert.Equal(whole, Crc32C.Append(Crc32C.Compute(a), b));
            Assert.Equal(whole, Crc32C.Combine(Crc32C.Compute(a), Crc32C.Compute(b), b.Length));
        }
    }

    [Fact]
    public void Combine_handles_long_zero_runs()
    {
        // crc(A || 2^20 zeros) two ways: appending the zeros and combining with their CRC.
        var zeros = new byte[1 << 20];
        var a = Crc32C.Compute("prefix"u8);
        Assert.Equal(Crc32C.Append(a, zeros), Crc32C.Combine(a, Crc32C.Compute(zeros), zeros.Length));
    }
}
