using System.Collections.Immutable;
using System.Runtime.InteropServices;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Messages.Tensors;

/// <summary>
/// A named tensor attached to a message: raw little-endian bytes plus dtype and shape. The bytes are not copied
/// when sending, so the sender must not change them until the message is on the wire (treat them as immutable).
/// Single tensors are limited to 2 GiB; split larger ones by rows.
/// </summary>
public sealed class TensorPayload
{
    private readonly float[]? _floats;
    private readonly ushort[]? _halves;

    private TensorPayload(string name, TensorDType dtype, ImmutableArray<long> shape, ReadOnlyMemory<byte> data, float[]? floats,
        ushort[]? halves = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!dtype.IsKnown())
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"tensor '{name}': dtype must be a known TensorDType");
        var expected = TensorDTypes.ByteLength(dtype, shape.AsSpan())
            ?? throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] has a negative dimension or overflows", nameof(shape));
        if (expected != data.Length)
            throw new ArgumentException(
                $"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but data has {data.Length}", nameof(data));
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
        _floats = floats;
        _halves = halves;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    public ImmutableArray<long> Shape { get; }

    /// <summary>The raw little-endian bytes.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    public long ElementCount => Data.Length / DType.ElementSize();

    /// <summary>Wraps a float array without copying; the shape defaults to one dimension.</summary>
    public static TensorPayload FromFloats(string name, float[] values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        var dims = shape.Length == 0 ? [values.LongLength] : ImmutableArray.Create(shape);
        return new TensorPayload(name, TensorDType.Float32, dims, new FloatArrayMemory(values).Memory, values);
    }

    /// <summary>Wraps BF16 or F16 bit patterns without copying.</summary>
    public static TensorPayload FromHalves(string name, TensorDType dtype, ushort[] bits, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(bits);
        if (dtype is not (TensorDType.Bfloat16 or TensorDType.Float16))
            throw new ArgumentException($"tensor '{name}': 16-bit values are BFLOAT16 or FLOAT16, not {dtype}", nameof(dtype));
        return new TensorPayload(name, dtype, ImmutableArray.Create(shape), new UInt16ArrayMemory(bits).Memory, null, bits);
    }

    /// <summary>The ushort array behind a 16-bit tensor sent from or received into one (no copy).</summary>
    public bool TryGetHalfArray(out ushort[] values)
    {
        values = _halves!;
        return _halves is not null;
    }

    /// <summary>Wraps raw little-endian bytes of the given dtype and shape without copying.</summary>
    public static TensorPayload FromBytes(string name, TensorDType dtype, ReadOnlyMemory<byte> data, params long[] shape) =>
        new(name, dtype, ImmutableArray.Create(shape), data, null);

    /// <summary>Wraps a float array that a receiver filled (no extra copy on arrival).</summary>
    internal static TensorPayload FromReceivedFloats(string name, float[] values, ImmutableArray<long> shape) =>
        new(name, TensorDType.Float32, shape, new FloatArrayMemory(values).Memory, values);

    internal static TensorPayload FromReceivedHalves(string name, TensorDType dtype, ushort[] values, ImmutableArray<long> shape) =>
        new(name, dtype, shape, new UInt16ArrayMemory(values).Memory, null, values);

    internal static TensorPayload FromReceivedBytes(string name, TensorDType dtype, byte[] data, ImmutableArray<long> shape) =>
        new(name, dtype, shape, data, null);

    /// <summary>The elements as float32; throws when the dtype is not FLOAT32.</summary>
    public ReadOnlySpan<float> AsFloats()
    {
        if (DType != TensorDType.Float32)
            throw new InvalidOperationException($"tensor '{Name}' is {DType}, not FLOAT32");
        return _floats is not null ? _floats : MemoryMarshal.Cast<byte, float>(Data.Span);
    }

    /// <summary>The float array behind this tensor when it has one (sent from or received into a float[]); no copy.</summary>
    public bool TryGetFloatArray(out float[] values)
    {
        values = _floats!;
        return _floats is not null;
    }

    public override string ToString() => $"{Name} {DType} [{string.Join(", ", Shape)}] ({Data.Length} bytes)";
}
