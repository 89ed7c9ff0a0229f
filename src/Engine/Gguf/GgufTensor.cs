namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// A tensor to write: its GGUF name, its dimensions in ggml order (<c>ne[0]</c> first: the row width, which is a
/// Hugging Face [out, in] weight's <c>in</c>), the type to store it as, and a producer of its fp32 values in
/// row-major order, called once when the writer reaches it.
/// </summary>
public sealed record GgufTensor(string Name, long[] Dims, GgmlType Type, Func<ReadOnlyMemory<float>> Produce)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => checked(a * b));

    public long RowWidth => Dims[0];

    public long ByteLength => checked(Type.RowBytes(RowWidth) * (ElementCount / Math.Max(1, RowWidth)));
}
