namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// Hugging Face Llama rotates halves of each head (element i pairs with i + Dh/2); llama.cpp's llama/deci graphs
/// rotate interleaved pairs (2i, 2i+1). Exporting therefore reorders the rows of q_proj and k_proj (and of their
/// biases) per head: within a head, row j * Dh/2 + i goes to row 2i + j. This is convert_hf_to_gguf.py's
/// <c>permute</c>, <c>w.reshape(heads, 2, Dh/2, columns).swapaxes(1, 2)</c>, and the inverse of
/// <see cref="Assets.Llama2cModelConverter.InterleavedToHalves"/>.
/// </summary>
public static class RotaryPermutation
{
    /// <param name="weight">[rows, columns] row-major; a bias is [rows, 1]</param>
    /// <param name="heads">this layer's head count for q, KV-head count for k</param>
    public static float[] HalvesToInterleaved(ReadOnlySpan<float> weight, int heads, int rows, int columns)
    {
        if (heads <= 0 || rows % heads != 0 || rows / heads % 2 != 0 || weight.Length != (long)rows * columns)
            throw new ArgumentException($"cannot split {rows} rows of {columns} into {heads} heads of rotary pairs (got {weight.Length} values)");
        var headDim = rows / heads;
        var half = headDim / 2;
        var result = new float[weight.Length];
        for (var h = 0; h < heads; h++)
            for (var j = 0; j < 2; j++)
                for (var i = 0; i < half; i++)
                {
                    var source = h * headDim + j * half + i;
                    var target = h * headDim + 2 * i + j;
                    weight.Slice(source * columns, columns).CopyTo(result.AsSpan(target * columns, columns));
                }
        return result;
    }
}
