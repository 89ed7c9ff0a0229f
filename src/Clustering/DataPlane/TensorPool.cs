using System.Runtime.CompilerServices;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// Arrays for received tensors, reused: a stage receives a micro-batch's activations of the same size again and
/// again, and a fresh 64 MiB array each time costs more in zeroing and page faults than its transfer. Only arrays
/// this pool handed out are taken back, so returning a tensor that came from elsewhere is harmless.
/// </summary>
public sealed class TensorPool(int keepPerSize = 4)
{
    private readonly Dictionary<(TensorType, long), Stack<Array>> _free = new();
    private readonly ConditionalWeakTable<Array, object> _ours = new();

    public Array Rent(TensorType type, long count)
    {
        lock (_free)
            if (_free.TryGetValue((type, count), out var stack) && stack.Count > 0) return stack.Pop();
        var array = DataTensor.Allocate(type, count);
        _ours.AddOrUpdate(array, this);
        return array;
    }

    /// <summary>Takes the tensors' arrays back; the caller must not use them afterwards.</summary>
    public void Return(params DataTensor?[] tensors)
    {
        foreach (var t in tensors)
        {
            if (t is null || !_ours.TryGetValue(t.Data, out _)) continue;
            lock (_free)
            {
                if (!_free.TryGetValue((t.Type, t.Data.LongLength), out var stack)) _free[(t.Type, t.Data.LongLength)] = stack = new Stack<Array>();
                if (stack.Count < keepPerSize && !stack.Contains(t.Data)) stack.Push(t.Data);
            }
        }
    }
}
