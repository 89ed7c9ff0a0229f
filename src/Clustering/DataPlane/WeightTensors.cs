using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>Weights on the data plane at their stored dtype: F32 as floats, BF16 and F16 as their 16-bit patterns, no conversion.</summary>
public static class WeightTensors
{
    public static DataTensor ToData(string name, long[] shape, WeightMatrix weight) => weight.DType switch
    {
        DType.F32 => DataTensor.Floats(name, weight.SingleArray, shape),
        DType.BF16 => DataTensor.Halves(name, TensorType.Bf16, weight.HalfArray, shape),
        DType.F16 => DataTensor.Halves(name, TensorType.F16, weight.HalfArray, shape),
        _ => throw new InvalidDataException($"tensor '{name}': weights travel as F32, BF16 or F16, not {weight.DType}"),
    };

    public static WeightMatrix FromData(DataTensor tensor) => tensor.Type switch
    {
        TensorType.F32 => WeightMatrix.Wrap(tensor.AsFloats(), 1, tensor.Data.Length),
        TensorType.Bf16 => WeightMatrix.Wrap(DType.BF16, (ushort[])tensor.Data, 1, tensor.Data.Length),
        TensorType.F16 => WeightMatrix.Wrap(DType.F16, (ushort[])tensor.Data, 1, tensor.Data.Length),
        _ => throw new InvalidDataException($"tensor '{tensor.Name}' holds {tensor.Type}, not weights"),
    };
}
