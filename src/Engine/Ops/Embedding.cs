using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Ops;

/// <summary>Token embedding lookup: x[N,D] = wte[ids[n], :].</summary>
public static class Embedding
{
    /// <summary>The rows of a weight held at checkpoint precision, widened one row at a time.</summary>
    public static void Forward(Span<float> x, ReadOnlySpan<int> ids, WeightMatrix wte, int vocab, int d)
    {
        if (x.Length != ids.Length * d) throw new ArgumentException($"x needs N*D = {ids.Length}*{d} elements", nameof(x));
        if (wte.Rows != vocab || wte.Cols != d) throw new ArgumentException($"embedding is {wte}, expected [{vocab}, {d}]", nameof(wte));
        for (var n = 0; n < ids.Length; n++)
        {
            var id = ids[n];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {n} is outside the vocabulary [0, {vocab})");
            wte.RowsToSingle(id, 1, x.Slice(n * d, d));
        }
    }

    public static void Forward(Span<float> x, ReadOnlySpan<int> ids, ReadOnlySpan<float> wte, int vocab, int d)
    {
        if (x.Length != ids.Length * d) throw new ArgumentException($"x needs N*D = {ids.Length}*{d} elements", nameof(x));
        if (wte.Length != vocab * d) throw new ArgumentException($"embedding needs V*D = {vocab}*{d} elements", nameof(wte));
        for (var n = 0; n < ids.Length; n++)
        {
            var id = ids[n];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {n} is outside the vocabulary [0, {vocab})");
            wte.Slice(id * d, d).CopyTo(x.Slice(n * d, d));
        }
    }

    /// <summary>dwte[V,D] accumulates the rows of dx.</summary>
    public static void Backward(Span<float> dwte, ReadOnlySpan<float> dx, ReadOnlySpan<int> ids, int d)
    {
        for (var n = 0; n < ids.Length; n++)
        {
            var row = dwte.Slice(ids[n] * d, d);
            System.Numerics.Tensors.TensorPrimitives.Add(row, dx.Slice(n * d, d), row);
        }
    }
}
