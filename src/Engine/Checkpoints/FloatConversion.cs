using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Conversions between fp32 and the 16-bit storage types. Narrowing rounds to nearest, ties to even; NaN stays NaN
/// (quiet) and overflow becomes infinity, as PyTorch does.
/// </summary>
public static class FloatConversion
{
    /// <summary>bf16 is the upper half of an fp32, so widening is exact: a 16-bit shift.</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static ushort SingleToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
            return (ushort)((bits >> 16) | 0x0040); // truncating a NaN could leave an infinity; force the quiet bit
        var lowestKeptBit = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + lowestKeptBit) >> 16);
    }

    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        var wide = MemoryMarshal.Cast<float, uint>(destination);
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var step = Vector<ushort>.Count;
            var half = Vector<uint>.Count;
            for (; i <= source.Length - step; i += step)
            {
                Vector.Widen(new Vector<ushort>(source[i..]), out var low, out var high);
                (low << 16).CopyTo(wide[i..]);
                (high << 16).CopyTo(wide[(i + half)..]);
            }
        }
        for (; i < source.Length; i++)
            wide[i] = (uint)source[i] << 16;
    }

    public static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (var i = 0; i < source.Length; i++)
            destination[i] = SingleToBFloat16(source[i]);
    }

    public static void HalfToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToSingle(source, destination);
    }

    public static void SingleToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToHalf(source, destination);
    }

    private static void CheckLengths(int source, int destination)
    {
        if (destination < source)
            throw new ArgumentException($"destination holds {destination} elements, source has {source}", nameof(destination));
    }
}
