using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.GpuNode;

/// <summary>Token ids and activations as attached tensors (raw little-endian).</summary>
public static class TensorConversions
{
    public static TensorPayload Tokens(int[] ids) =>
        TensorPayload.FromBytes("tokens", TensorDType.Int32, MemoryMarshal.AsBytes(ids.AsSpan()).ToArray(), ids.Length);

    public static int[] ReadTokens(TensorPayload payload)
    {
        if (payload.DType != TensorDType.Int32) throw new InvalidDataException($"tensor '{payload.Name}' must be INT32, got {payload.DType}");
        return MemoryMarshal.Cast<byte, int>(payload.Data.Span).ToArray();
    }

    public static float[] ReadFloats(TensorPayload payload) =>
        payload.TryGetFloatArray(out var array) && array.Length == payload.ElementCount ? array : payload.AsFloats().ToArray();

    /// <summary>A held weight as an attached tensor at its stored dtype, sharing its storage (the sender must not change it).</summary>
    public static TensorPayload FromWeight(string name, WeightMatrix weight, long[] shape)
    {
        if (weight.ByteLength > int.MaxValue)
            throw new NotSupportedException($"tensor '{name}' is {weight.ByteLength} bytes; one attached tensor is limited to 2 GiB (use --shared-output)");
        return weight.DType switch
        {
            DType.F32 => TensorPayload.FromFloats(name, weight.SingleArray, shape),
            DType.BF16 => TensorPayload.FromHalves(name, TensorDType.Bfloat16, weight.HalfArray, shape),
            DType.F16 => TensorPayload.FromHalves(name, TensorDType.Float16, weight.HalfArray, shape),
            _ => throw new ArgumentException($"tensor '{name}': a weight cannot travel as {weight.DType.SafeTensorsName()}"),
        };
    }

    /// <summary>An attached F32/BF16/F16 tensor as a weight at the same dtype; [rows, cols] from its shape (a vector is one row).</summary>
    public static WeightMatrix ReadWeight(TensorPayload payload)
    {
        var shape = payload.Shape;
        var (rows, cols) = shape.Length switch
        {
            1 => (1, checked((int)shape[0])),
            2 => (checked((int)shape[0]), checked((int)shape[1])),
            _ => throw new InvalidDataException($"tensor '{payload.Name}' has shape [{string.Join(", ", shape)}]; a weight is a vector or a matrix"),
        };
        return payload.DType switch
        {
            TensorDType.Float32 => WeightMatrix.Wrap(ReadFloats(payload), rows, cols),
            TensorDType.Bfloat16 => WeightMatrix.Wrap(DType.BF16, Halves(payload), rows, cols),
            TensorDType.Float16 => WeightMatrix.Wrap(DType.F16, Halves(payload), rows, cols),
            _ => throw new InvalidDataException($"tensor '{payload.Name}' is {payload.DType}; a weight must be FLOAT32, BFLOAT16 or FLOAT16"),
        };
    }

    private static ushort[] Halves(TensorPayload payload) =>
        payload.TryGetHalfArray(out var array) && array.Length == payload.ElementCount ? array : MemoryMarshal.Cast<byte, ushort>(payload.Data.Span).ToArray();

    public static TensorPayload? Find(IReadOnlyList<TensorPayload> tensors, string name) => tensors.FirstOrDefault(t => t.Name == name);
}
