using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Messages.Tensors;

public static class TensorDTypes
{
    /// <summary>Bytes per element; throws for UNSPECIFIED or a value this build does not know.</summary>
    public static int ElementSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 or TensorDType.Int32 => 4,
        TensorDType.Bfloat16 or TensorDType.Float16 => 2,
        TensorDType.Int64 => 8,
        TensorDType.Uint8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "tensor dtype must be FLOAT32, BFLOAT16, FLOAT16, INT32, INT64 or UINT8"),
    };

    public static bool IsKnown(this TensorDType dtype) =>
        dtype is TensorDType.Float32 or TensorDType.Int32 or TensorDType.Bfloat16 or TensorDType.Float16 or TensorDType.Int64 or TensorDType.Uint8;

    /// <summary>product(shape) * element size, or null when a dimension is negative or the product overflows.</summary>
    public static long? ByteLength(TensorDType dtype, ReadOnlySpan<long> shape)
    {
        try
        {
            long elements = 1;
            foreach (var d in shape)
            {
                if (d < 0)
                    return null;
                elements = checked(elements * d);
            }
            return checked(elements * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            return null;
        }
    }
}
