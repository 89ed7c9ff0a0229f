using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// One weight held at its checkpoint precision (F32, BF16 or F16): a row-major [Rows, Cols] matrix (a vector is one
/// row) and its stored bits. Compute is fp32 everywhere, so readers convert on the way in: GEMM while packing panels
/// (<see cref="IGemm.SgemmWeight"/>), element-wise ops a row at a time. No full fp32 copy of a 16-bit weight is ever
/// made; widening BF16/F16 to fp32 is exact, so every result equals the one from the same numbers held as fp32.
/// </summary>
public sealed class WeightMatrix
{
    private readonly float[]? _single;
    private readonly ushort[]? _half; // BF16 or F16 bit patterns

    private WeightMatrix(DType dtype, int rows, int cols, float[]? single, ushort[]? half)
    {
        DType = dtype;
        Rows = rows;
        Cols = cols;
        _single = single;
        _half = half;
    }

    public DType DType { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long Length => (long)Rows * Cols;
    public long ByteLength => Length * DType.ElementSize();
    public bool IsSingle => _single is not null;

    /// <summary>A zeroed matrix stored as <paramref name="dtype"/> (F32, BF16 or F16).</summary>
    public static WeightMatrix Allocate(DType dtype, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        var length = (long)rows * cols;
        if (length > Array.MaxLength)
            throw new NotSupportedException($"a [{rows}, {cols}] weight has {length} elements, more than one array holds");
        return dtype switch
        {
            DType.F32 => new WeightMatrix(dtype, rows, cols, new float[length], null),
            DType.BF16 or DType.F16 => new WeightMatrix(dtype, rows, cols, null, new ushort[length]),
            _ => throw new ArgumentException($"a weight is held as F32, BF16 or F16, not {dtype.SafeTensorsName()}", nameof(dtype)),
        };
    }

    /// <summary>Wraps fp32 values without copying them (the matrix and the array share storage).</summary>
    public static WeightMatrix Wrap(float[] values, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.LongLength != (long)rows * cols)
            throw new ArgumentException($"{values.Length} values do not make a [{rows}, {cols}] matrix", nameof(values));
        return new WeightMatrix(DType.F32, rows, cols, values, null);
    }

    /// <summary>Wraps BF16 or F16 bit patterns without copying them.</summary>
    public static WeightMatrix Wrap(DType dtype, ushort[] bits, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(bits);
        if (dtype is not (DType.BF16 or DType.F16)) throw new ArgumentException($"16-bit storage is BF16 or F16, not {dtype.SafeTensorsName()}", nameof(dtype));
        if (bits.LongLength != (long)rows * cols)
            throw new ArgumentException($"{bits.Length} values do not make a [{rows}, {cols}] matrix", nameof(bits));
        return new WeightMatrix(dtype, rows, cols, null, bits);
    }

    /// <summary>The fp32 storage; only for a matrix held as F32.</summary>
    public Span<float> Single => _single ?? throw new InvalidOperationException($"this weight is held as {DType.SafeTensorsName()}, not F32");

    /// <summary>The BF16/F16 bit patterns; only for a matrix held at 16 bits.</summary>
    public Span<ushort> Half => _half ?? throw new InvalidOperationException($"this weight is held as {DType.SafeTensorsName()}, not a 16-bit type");

    /// <summary>The fp32 array itself (shared, not copied), for zero-copy hand-off to a transport; only for F32.</summary>
    public float[] SingleArray => _single ?? throw new InvalidOperationException($"this weight is held as {DType.SafeTensorsName()}, not F32");

    /// <summary>The 16-bit array itself (shared, not copied); only for BF16/F16.</summary>
    public ushort[] HalfArray => _half ?? throw new InvalidOperationException($"this weight is held as {DType.SafeTensorsName()}, not a 16-bit type");

    /// <summary>The stored bytes of rows [row0, row0 + rows) (little-endian, as in a safetensors file).</summary>
    public Span<byte> BytesOfRows(int row0, int rows)
    {
        CheckRange(row0, rows, Rows, "rows");
        var start = (long)row0 * Cols;
        var count = (long)rows * Cols;
        if (count * DType.ElementSize() > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows of {Cols} {DType.SafeTensorsName()} values exceed one span; ask for fewer rows");
        return _single is not null
            ? MemoryMarshal.AsBytes(_single.AsSpan((int)start, (int)count))
            : MemoryMarshal.AsBytes(_half.AsSpan((int)start, (int)count));
    }

    /// <summary>Rows that fit one span of stored bytes: the unit of chunked reads and writes.</summary>
    public int RowsPerChunk(long maxBytes = 1 << 24) =>
        Cols == 0 ? Math.Max(Rows, 1) : (int)Math.Clamp(maxBytes / ((long)Cols * DType.ElementSize()), 1, Math.Max(Rows, 1));

    /// <summary>destination[rows, Cols] = rows [row0, row0 + rows) as fp32 (exact).</summary>
    public void RowsToSingle(int row0, int rows, Span<float> destination)
    {
        CheckRange(row0, rows, Rows, "rows");
        var count = rows * Cols;
        if (destination.Length < count) throw new ArgumentException($"destination holds {destination.Length} floats, {rows} rows need {count}", nameof(destination));
        var start = row0 * Cols;
        ToSingle(start, count, destination);
    }

    /// <summary>destination[Rows, cols] (row-major, row stride cols) = columns [col0, col0 + cols) as fp32 (exact).</summary>
    public void ColumnsToSingle(int col0, int cols, Span<float> destination)
    {
        CheckRange(col0, cols, Cols, "columns");
        if (destination.Length < (long)Rows * cols) throw new ArgumentException($"destination holds {destination.Length} floats, {Rows} x {cols} needed", nameof(destination));
        for (var r = 0; r < Rows; r++) ToSingle(r * Cols + col0, cols, destination.Slice(r * cols, cols));
    }

    /// <summary>Elements [start, start + count) in storage order, as fp32.</summary>
    public void ToSingle(long start, int count, Span<float> destination)
    {
        if (start < 0 || start + count > Length) throw new ArgumentOutOfRangeException(nameof(start), $"elements [{start}, {start + count}) outside [0, {Length})");
        var target = destination[..count];
        switch (DType)
        {
            case DType.F32: _single.AsSpan((int)start, count).CopyTo(target); break;
            case DType.BF16: FloatConversion.BFloat16ToSingle(_half.AsSpan((int)start, count), target); break;
            default: FloatConversion.HalfToSingle(MemoryMarshal.Cast<ushort, System.Half>(_half.AsSpan((int)start, count)), target); break;
        }
    }

    /// <summary>A full fp32 copy. For tests and small tensors only: the point of this type is that none is needed.</summary>
    public float[] ToSingleArray()
    {
        var values = new float[Length];
        for (long done = 0; done < Length;)
        {
            var count = (int)Math.Min(1 << 20, Length - done);
            ToSingle(done, count, values.AsSpan((int)done, count));
            done += count;
        }
        return values;
    }

    /// <summary>The same values held as <paramref name="dtype"/>: exact when widening, round-to-nearest-even when narrowing.</summary>
    public WeightMatrix ConvertTo(DType dtype)
    {
        var result = Allocate(dtype, Rows, Cols);
        var chunk = new float[Math.Min(1 << 20, Math.Max(1L, Length))];
        for (long done = 0; done < Length;)
        {
            var count = (int)Math.Min(chunk.Length, Length - done);
            ToSingle(done, count, chunk);
            result.SetFromSingle(done, chunk.AsSpan(0, count));
            done += count;
        }
        return result;
    }

    /// <summary>Stores fp32 values at [start, start + values.Length), narrowing to this matrix's dtype (round to nearest even).</summary>
    public void SetFromSingle(long start, ReadOnlySpan<float> values)
    {
        if (start < 0 || start + values.Length > Length) throw new ArgumentOutOfRangeException(nameof(start), $"elements [{start}, {start + values.Length}) outside [0, {Length})");
        switch (DType)
        {
            case DType.F32: values.CopyTo(_single.AsSpan((int)start, values.Length)); break;
            case DType.BF16: FloatConversion.SingleToBFloat16(values, _half.AsSpan((int)start, values.Length)); break;
            default: FloatConversion.SingleToHalf(values, MemoryMarshal.Cast<ushort, System.Half>(_half.AsSpan((int)start, values.Length))); break;
        }
    }

    /// <summary>A new [rows.Length, Cols] matrix of the given rows, in that order, with the stored bits copied unchanged.</summary>
    public WeightMatrix SelectRows(ReadOnlySpan<int> rows)
    {
        var result = Allocate(DType, rows.Length, Cols);
        for (var i = 0; i < rows.Length; i++)
        {
            CheckRange(rows[i], 1, Rows, "row");
            if (_single is not null) _single.AsSpan(rows[i] * Cols, Cols).CopyTo(result._single.AsSpan(i * Cols, Cols));
            else _half.AsSpan(rows[i] * Cols, Cols).CopyTo(result._half.AsSpan(i * Cols, Cols));
        }
        return result;
    }

    /// <summary>A new [Rows, columns.Length] matrix of the given columns, in that order, with the stored bits copied unchanged.</summary>
    public WeightMatrix SelectColumns(ReadOnlySpan<int> columns)
    {
        foreach (var c in columns) CheckRange(c, 1, Cols, "column");
        var result = Allocate(DType, Rows, columns.Length);
        var width = columns.Length;
        for (var r = 0; r < Rows; r++)
        {
            if (_single is not null)
            {
                var src = _single.AsSpan(r * Cols, Cols);
                var dst = result._single.AsSpan(r * width, width);
                for (var i = 0; i < width; i++) dst[i] = src[columns[i]];
            }
            else
            {
                var src = _half.AsSpan(r * Cols, Cols);
                var dst = result._half.AsSpan(r * width, width);
                for (var i = 0; i < width; i++) dst[i] = src[columns[i]];
            }
        }
        return result;
    }

    /// <summary>True when both hold the same dtype, shape and stored bits.</summary>
    public bool BitwiseEquals(WeightMatrix other) =>
        DType == other.DType && Rows == other.Rows && Cols == other.Cols
        && (_single is not null
            ? MemoryMarshal.AsBytes(_single.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(other._single.AsSpan()))
            : _half.AsSpan().SequenceEqual(other._half));

    public override string ToString() => $"{DType.SafeTensorsName()} [{Rows}, {Cols}]";

    private static void CheckRange(int start, int count, int size, string what)
    {
        if (start < 0 || count < 0 || (long)start + count > size)
            throw new ArgumentOutOfRangeException(nameof(start), $"{what} [{start}, {(long)start + count}) outside [0, {size})");
    }
}
