using System.Runtime.InteropServices;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>One tensor on the data plane: its name, element type, shape, and the array holding it (never copied).</summary>
public sealed record DataTensor(string Name, TensorType Type, long[] Shape, Array Data)
{
    public static DataTensor Floats(string name, float[] data, params long[] shape) => new(name, TensorType.F32, shape, data);
    public static DataTensor Ints(string name, int[] data, params long[] shape) => new(name, TensorType.I32, shape, data);
    /// <summary>BF16 or F16 values as their 16-bit patterns.</summary>
    public static DataTensor Halves(string name, TensorType type, ushort[] bits, params long[] shape) => new(name, type, shape, bits);

    public float[] AsFloats() => Data as float[] ?? throw new InvalidDataException($"tensor '{Name}' holds {Type}, expected F32");
    public int[] AsInts() => Data as int[] ?? throw new InvalidDataException($"tensor '{Name}' holds {Type}, expected I32");

    public long ByteLength => (long)Data.Length * ElementSize(Type);

    /// <summary>The tensor's bytes as the host lays them out (little-endian on every supported host).</summary>
    public Span<byte> Bytes() => Data switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        ushort[] h => MemoryMarshal.AsBytes(h.AsSpan()),
        _ => throw new InvalidDataException($"tensor '{Name}': unsupported array type {Data.GetType().Name}"),
    };

    public static int ElementSize(TensorType type) => type switch
    {
        TensorType.F32 or TensorType.I32 => 4,
        TensorType.Bf16 or TensorType.F16 => 2,
        _ => throw new InvalidDataException($"unknown tensor type {type}"),
    };

    /// <summary>A zeroed array of the right CLR type for <paramref name="count"/> elements of <paramref name="type"/>.</summary>
    public static Array Allocate(TensorType type, long count) => type switch
    {
        TensorType.F32 => new float[count],
        TensorType.I32 => new int[count],
        TensorType.Bf16 or TensorType.F16 => new ushort[count],
        _ => throw new InvalidDataException($"unknown tensor type {type}"),
    };
}

/// <summary>What one data-plane message carries: a micro-batch's activations or gradient, or one compacted tensor.</summary>
public sealed record DataPacket(PacketKind Kind, long PassId, int MicroBatch, int Batch, int Positions, IReadOnlyList<DataTensor> Tensors, int Variant = 0)
{
    public DataTensor Tensor(string name) => Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new InvalidDataException($"{Kind} packet of micro-batch {MicroBatch} has no tensor '{name}'");

    public DataTensor? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);
}
