using System.Numerics;
using System.Numerics.Tensors;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>NaN/infinity detection for weights as they load and logits as they come out, so bad numbers are named, not propagated.</summary>
public static class NumericCheck
{
    public static bool AllFinite(ReadOnlySpan<float> values) => TensorPrimitives.IsFiniteAll(values);

    /// <summary>Index of the first NaN or infinity, or -1 when all are finite.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        if (TensorPrimitives.IsFiniteAll(values)) return -1;
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>
    /// Index of the first NaN or infinity among 16-bit floats (BF16 or F16) held as their bits, or -1. A value is
    /// non-finite exactly when its exponent bits are all ones, so <paramref name="exponentMask"/> decides the type.
    /// </summary>
    public static int FirstNonFinite(ReadOnlySpan<ushort> bits, ushort exponentMask)
    {
        var mask = new Vector<ushort>(exponentMask);
        var i = 0;
        for (; i <= bits.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
            if (Vector.EqualsAny(Vector.BitwiseAnd(new Vector<ushort>(bits[i..]), mask), mask)) break;
        for (; i < bits.Length; i++)
            if ((bits[i] & exponentMask) == exponentMask) return i;
        return -1;
    }

    /// <summary>"NaN", "+inf" or "-inf", for messages.</summary>
    public static string Describe(float value) => float.IsNaN(value) ? "NaN" : value > 0 ? "+inf" : "-inf";
}
