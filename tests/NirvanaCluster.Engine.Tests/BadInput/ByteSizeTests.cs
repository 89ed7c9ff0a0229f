using FsCheck;
using FsCheck.Fluent;

namespace NirvanaCluster.Engine.Tests.BadInput;

/// <summary>Class 8: memory sizes accept GB (10^9) and GiB (2^30), and say which is which.</summary>
public class ByteSizeTests
{
    [Theory]
    [InlineData("24GiB", 24L << 30)]
    [InlineData("24Gi", 24L << 30)]
    [InlineData("24gib", 24L << 30)]
    [InlineData("24GB", 24_000_000_000L)]
    [InlineData("24G", 24_000_000_000L)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("512MB", 512_000_000L)]
    [InlineData("2TiB", 2L << 40)]
    [InlineData("64KiB", 64L << 10)]
    [InlineData("64kB", 64_000L)]
    [InlineData("1000B", 1000L)]
    [InlineData("123456", 123456L)]
    [InlineData(" 8 GiB ", 8L << 30)]
    public void Decimal_and_binary_units(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text, "--memory"));

    [Theory]
    [InlineData("1,5GiB", "has a comma")]
    [InlineData("-1GiB", "not a positive size")]
    [InlineData("0", "not a positive size")]
    [InlineData("lots", "not a positive size")]
    [InlineData("5XB", "not a positive size")]
    [InlineData("1e3GB", "not a positive size")]
    [InlineData("99999999999TiB", "too large")]
    public void Bad_sizes_name_the_flag_and_both_unit_systems(string text, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => ByteSize.Parse(text, "--memory"));
        Assert.StartsWith("--memory:", e.Message);
        Assert.Contains(expected, e.Message);
        if (expected == "not a positive size") Assert.Contains("GB", e.Message);
    }

    [Fact]
    public void For_any_count_GiB_is_1024_cubed_and_GB_is_1000_cubed()
    {
        Prop.ForAll(Gen.Choose(1, 4_000_000).ToArbitrary(), n =>
            ByteSize.Parse($"{n}GiB", "--memory") == (long)n << 30 && ByteSize.Parse($"{n}GB", "--memory") == n * 1_000_000_000L
            && ByteSize.Parse($"{n}MiB", "--memory") == (long)n << 20 && ByteSize.Parse($"{n}M", "--memory") == n * 1_000_000L)
            .Check(Config.QuickThrowOnFailure.WithMaxTest(300));
        Assert.Equal("24.0 GiB (25.8 GB)", ByteSize.Describe(24L << 30));
    }
}
