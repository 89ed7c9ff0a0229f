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

    /// <summary>"NaN", "+inf" or "-inf", for messages.</summary>
    public static string Describe(float value) => float.IsNaN(value) ? "NaN" : value > 0 ? "+inf" : "-inf";
}
