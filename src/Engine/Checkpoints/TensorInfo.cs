namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// One tensor of a safetensors file. <paramref name="Offset"/> is the absolute byte position of its first element
/// in the file (header included), <paramref name="ByteLength"/> its size in bytes.
/// </summary>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long Offset, long ByteLength)
{
    public long ElementCount => ByteLength / DType.ElementSize();

    public string ShapeText => FormatShape(Shape);

    public static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
