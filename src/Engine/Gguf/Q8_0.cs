using System.Buffers.Binary;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// ggml's Q8_0: a row is cut into blocks of 32 values; each block stores the F16 scale d = amax / 127 and 32 int8
/// values q = round(x / d), so x ≈ d * q. Quantization is ggml's <c>quantize_row_q8_0_ref</c> to the bit: the
/// multiply by id = 1 / d in float32, C's <c>roundf</c> (halves away from zero), the scale rounded to F16 only
/// after q is computed from the float32 one.
/// </summary>
public static class Q8_0
{
    public const int BlockSize = GgmlTypes.Q8_0BlockSize;
    public const int BlockBytes = GgmlTypes.Q8_0BlockBytes;

    /// <summary>Quantizes <paramref name="row"/> (a multiple of 32 values) into <paramref name="destination"/> (34 bytes per block).</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, Span<byte> destination)
    {
        if (row.Length % BlockSize != 0) throw new ArgumentException($"a Q8_0 row needs a multiple of {BlockSize} values (got {row.Length})", nameof(row));
        var blocks = row.Length / BlockSize;
        if (destination.Length < blocks * BlockBytes)
            throw new ArgumentException($"destination holds {destination.Length} bytes, {blocks} blocks need {blocks * BlockBytes}", nameof(destination));
        for (var b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * BlockSize, BlockSize);
            var block = destination.Slice(b * BlockBytes, BlockBytes);
            var amax = 0f;
            foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
            var d = amax / 127f;
            var id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (var j = 0; j < BlockSize; j++)
                block[2 + j] = unchecked((byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero));
        }
    }

    /// <summary>ggml's <c>dequantize_row_q8_0</c>: x = F16 scale (widened) * q.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> row)
    {
        if (row.Length % BlockSize != 0) throw new ArgumentException($"a Q8_0 row needs a multiple of {BlockSize} values (got {row.Length})", nameof(row));
        for (var b = 0; b < row.Length / BlockSize; b++)
        {
            var block = source.Slice(b * BlockBytes, BlockBytes);
            var d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (var j = 0; j < BlockSize; j++) row[b * BlockSize + j] = d * (sbyte)block[2 + j];
        }
    }
}
