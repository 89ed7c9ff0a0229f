using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

public class FloatConversionTests
{
    [Theory]
    [InlineData(0x3C00, 1.0f)]
    [InlineData(0xC000, -2.0f)]
    [InlineData(0x7BFF, 65504f)]                       // largest finite half
    [InlineData(0x0400, 6.103515625e-05f)]             // smallest normal, 2^-14
    [InlineData(0x0001, 5.9604644775390625e-08f)]      // smallest subnormal, 2^-24
    [InlineData(0x03FF, 6.097555160522461e-05f)]       // largest subnormal, 1023 * 2^-24
    [InlineData(0x3555, 0.333251953125f)]
    [InlineData(0x7C00, float.PositiveInfinity)]
    [InlineData(0xFC00, float.NegativeInfinity)]
    public void Half_bit_patterns_widen_to_their_published_values(int bits, float expected)
    {
        var result = new float[1];
        FloatConversion.HalfToSingle([BitConverter.UInt16BitsToHalf((ushort)bits)], result);
        Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(result[0]));
    }

    [Theory]
    [InlineData(0x3F80, 1.0f)]
    [InlineData(0xC000, -2.0f)]
    [InlineData(0x7F7F, 3.3895313892515355e38f)]       // largest finite bf16
    [InlineData(0x0080, 1.1754943508222875e-38f)]      // smallest normal, 2^-126
    [InlineData(0x0001, 9.183549615799121e-41f)]       // smallest subnormal, 2^-133
    [InlineData(0x7F80, float.PositiveInfinity)]
    [InlineData(0xFF80, float.NegativeInfinity)]
    public void BFloat16_bit_patterns_widen_to_their_published_values(int bits, float expected)
    {
        Assert.Equal(BitConverter.SingleToUInt32Bits(expected),
            BitConverter.SingleToUInt32Bits(FloatConversion.BFloat16ToSingle((ushort)bits)));
    }

    [Fact]
    public void NaN_and_negative_zero_survive_widening()
    {
        var result = new float[2];
        FloatConversion.HalfToSingle([BitConverter.UInt16BitsToHalf(0x7E00), BitConverter.UInt16BitsToHalf(0x8000)], result);
        Assert.True(float.IsNaN(result[0]));
        Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(result[1]));
        FloatConversion.BFloat16ToSingle([0x7FC0, 0x8000], result);
        Assert.True(float.IsNaN(result[0]));
        Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(result[1]));
    }

    /// <summary>Every one of the 65536 patterns, through the vectorized span path, against sign x 2^e x 1.m.</summary>
    [Fact]
    public void Every_half_and_bfloat16_pattern_widens_like_the_formula()
    {
        var patterns = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var viaHalf = new float[65536];
        var viaBf16 = new float[65536];
        FloatConversion.HalfToSingle(patterns.Select(BitConverter.UInt16BitsToHalf).ToArray(), viaHalf);
        FloatConversion.BFloat16ToSingle(patterns, viaBf16);
        for (var i = 0; i < 65536; i++)
        {
            AssertSameValue(Formula(i, exponentBits: 5, mantissaBits: 10), viaHalf[i], i);
            AssertSameValue(Formula(i, exponentBits: 8, mantissaBits: 7), viaBf16[i], i);
        }
    }

    [Theory]
    [InlineData(0x3F80_8000u, 0x3F80)] // exactly halfway, lower neighbour even: stays
    [InlineData(0x3F81_8000u, 0x3F82)] // exactly halfway, lower neighbour odd: rounds up to even
    [InlineData(0x3F80_8001u, 0x3F81)] // just above halfway
    [InlineData(0x3F80_7FFFu, 0x3F80)] // just below halfway
    [InlineData(0x7F7F_FFFFu, 0x7F80)] // float.MaxValue overflows to infinity
    [InlineData(0x0000_0001u, 0x0000)] // smallest fp32 subnormal rounds to zero
    [InlineData(0x8000_0000u, 0x8000)] // negative zero keeps its sign
    public void Narrowing_to_bfloat16_rounds_to_nearest_even(uint floatBits, int expected)
    {
        Assert.Equal((ushort)expected, FloatConversion.SingleToBFloat16(BitConverter.UInt32BitsToSingle(floatBits)));
    }

    [Fact]
    public void A_signalling_NaN_narrows_to_a_NaN_not_an_infinity()
    {
        // Truncating 0x7F800001 would give 0x7F80, which is infinity.
        var narrowed = FloatConversion.SingleToBFloat16(BitConverter.UInt32BitsToSingle(0x7F80_0001u));
        Assert.True(float.IsNaN(FloatConversion.BFloat16ToSingle(narrowed)));
    }

    [Theory]
    [InlineData(1f + 1f / 2048, 0x3C00)]        // halfway between 1 and 1 + 2^-10: even is 1
    [InlineData(1f + 3f / 2048, 0x3C02)]        // halfway between 0x3C01 and 0x3C02: even is 0x3C02
    [InlineData(65519f, 0x7BFF)]                // below the overflow midpoint: the largest finite
    [InlineData(65520f, 0x7C00)]                // the overflow midpoint rounds to infinity
    [InlineData(2.98023223876953125e-08f, 0x0000)] // 2^-25, halfway to the smallest subnormal: even is zero
    public void Narrowing_to_half_rounds_to_nearest_even(float value, int expected)
    {
        var result = new Half[1];
        FloatConversion.SingleToHalf([value], result);
        Assert.Equal((ushort)expected, BitConverter.HalfToUInt16Bits(result[0]));
    }

    /// <summary>Random fp32 values against an oracle that picks the nearest representable value in double arithmetic.</summary>
    [Fact]
    public void Random_floats_narrow_to_the_nearest_representable_value()
    {
        var random = new Random(1234);
        var halves = SortedFinitePositive(exponentBits: 5, mantissaBits: 10);
        var bf16s = SortedFinitePositive(exponentBits: 8, mantissaBits: 7);
        var source = new float[20000];
        for (var i = 0; i < source.Length; i++)
            source[i] = i % 2 == 0
                ? (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-26, 17))) // the half range and its edges
                : BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 0x7F80_0000) | (uint)(i % 4 == 1 ? 0x8000_0000 : 0));
        var narrowHalf = new Half[source.Length];
        var narrowBf16 = new ushort[source.Length];
        FloatConversion.SingleToHalf(source, narrowHalf);
        FloatConversion.SingleToBFloat16(source, narrowBf16);
        for (var i = 0; i < source.Length; i++)
        {
            Assert.Equal(Nearest(halves, source[i], 5, 10), BitConverter.HalfToUInt16Bits(narrowHalf[i]));
            Assert.Equal(Nearest(bf16s, source[i], 8, 7), narrowBf16[i]);
        }
    }

    private static double Formula(int bits, int exponentBits, int mantissaBits)
    {
        var sign = (bits >> (exponentBits + mantissaBits)) != 0 ? -1.0 : 1.0;
        var exponent = (bits >> mantissaBits) & ((1 << exponentBits) - 1);
        var mantissa = bits & ((1 << mantissaBits) - 1);
        var bias = (1 << (exponentBits - 1)) - 1;
        if (exponent == (1 << exponentBits) - 1) return mantissa == 0 ? sign * double.PositiveInfinity : double.NaN;
        return exponent == 0
            ? sign * mantissa * Math.Pow(2, 1 - bias - mantissaBits)
            : sign * (1 + mantissa / Math.Pow(2, mantissaBits)) * Math.Pow(2, exponent - bias);
    }

    private static void AssertSameValue(double expected, float actual, int pattern)
    {
        if (double.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"pattern 0x{pattern:X4}");
        else Assert.True(expected.Equals((double)actual) && double.IsNegative(expected) == float.IsNegative(actual),
            $"pattern 0x{pattern:X4}: expected {expected}, got {actual}");
    }

    /// <summary>Values of every finite non-negative pattern, indexed by the pattern (bit order is value order).</summary>
    private static double[] SortedFinitePositive(int exponentBits, int mantissaBits) =>
        Enumerable.Range(0, ((1 << exponentBits) - 1) << mantissaBits).Select(b => Formula(b, exponentBits, mantissaBits)).ToArray();

    private static ushort Nearest(double[] table, float value, int exponentBits, int mantissaBits)
    {
        var signBit = float.IsNegative(value) ? 1 << (exponentBits + mantissaBits) : 0;
        var magnitude = Math.Abs((double)value);
        var ulpAtMax = Math.Pow(2, (1 << (exponentBits - 1)) - 1 - mantissaBits);
        if (magnitude >= table[^1] + ulpAtMax / 2) return (ushort)(signBit | table.Length); // infinity follows the largest finite
        var index = Array.BinarySearch(table, magnitude);
        if (index >= 0) return (ushort)(signBit | index);
        var upper = ~index;
        if (upper >= table.Length) return (ushort)(signBit | (table.Length - 1));
        var lower = upper - 1;
        var below = magnitude - table[lower];
        var above = table[upper] - magnitude;
        var pick = below < above ? lower : above < below ? upper : (lower % 2 == 0 ? lower : upper);
        return (ushort)(signBit | pick);
    }
}
