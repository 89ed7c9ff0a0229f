using System.Buffers;

namespace NirvanaCluster.Pruning.Objective;

/// <summary>
/// Scratch arrays rented for one call and returned at its end: the head's per-micro-batch temporaries (a sequence's
/// logits alone are T x V floats) are reused instead of left for the collector, so they do not pile up in the
/// large-object heap between collections and count against a stage's memory more than once.
/// </summary>
internal sealed class PooledBuffers : IDisposable
{
    private readonly List<float[]> _floats = [];
    private readonly List<int[]> _ints = [];

    /// <summary>A span of exactly <paramref name="length"/> floats; contents undefined unless <paramref name="clear"/>.</summary>
    public Span<float> Floats(int length, bool clear = false)
    {
        var array = ArrayPool<float>.Shared.Rent(Math.Max(1, length));
        _floats.Add(array);
        var span = array.AsSpan(0, length);
        if (clear) span.Clear();
        return span;
    }

    public Span<int> Ints(int length)
    {
        var array = ArrayPool<int>.Shared.Rent(Math.Max(1, length));
        _ints.Add(array);
        return array.AsSpan(0, length);
    }

    public void Dispose()
    {
        foreach (var a in _floats) ArrayPool<float>.Shared.Return(a);
        foreach (var a in _ints) ArrayPool<int>.Shared.Return(a);
        _floats.Clear();
        _ints.Clear();
    }
}
