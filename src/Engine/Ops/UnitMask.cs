namespace NirvanaCluster.Engine.Ops;

/// <summary>
/// Silences whole units of an activation x[N, U*W] in place: unit u owns the W consecutive columns [u*W, (u+1)*W)
/// of every row, and a unit with keep[u] false is set to zero (an exact zero, not a multiplication, so it holds for
/// NaN or Inf too). Used with W = G*Dh on the attention output (one KV group's query heads) and W = 1 on the MLP's
/// silu(gate)*up: the masked layer then computes what the layer compacted to the kept units computes.
/// </summary>
public static class UnitMask
{
    /// <summary>x[N, U*W] in place: removed units become zero.</summary>
    public static void Forward(Span<float> x, ReadOnlySpan<bool> keep, int rows, int units, int width)
    {
        Check(x.Length, keep.Length, rows, units, width);
        var stride = units * width;
        for (var u = 0; u < units; u++)
        {
            if (keep[u]) continue;
            for (var r = 0; r < rows; r++) x.Slice(r * stride + u * width, width).Clear();
        }
    }

    /// <summary>dx[N, U*W] in place (dy on entry, dx on return): the mask is linear, so removed units pass no gradient.</summary>
    public static void Backward(Span<float> dx, ReadOnlySpan<bool> keep, int rows, int units, int width) =>
        Forward(dx, keep, rows, units, width);

    private static void Check(int length, int keepLength, int rows, int units, int width)
    {
        if (keepLength != units) throw new ArgumentException($"mask has {keepLength} entries, expected one per unit ({units})");
        if (length != rows * units * width) throw new ArgumentException($"x needs N*U*W = {rows}*{units}*{width} elements, got {length}");
    }
}
