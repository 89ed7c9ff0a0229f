namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// A tensor to write: its name, shape and a producer of its fp32 values (row-major). The producer is called once,
/// when the writer reaches the tensor, so a large model can be written tensor by tensor without holding it all.
/// </summary>
public sealed record NamedTensor(string Name, long[] Shape, Func<ReadOnlyMemory<float>> Produce)
{
    /// <summary>A tensor whose values are already in memory.</summary>
    public NamedTensor(string name, long[] shape, ReadOnlyMemory<float> data) : this(name, shape, () => data) { }

    /// <summary>Product of the dimensions; throws <see cref="ArgumentException"/> naming the tensor when one is negative.</summary>
    public long ElementCount
    {
        get
        {
            var count = 1L;
            foreach (var dim in Shape)
            {
                if (dim < 0) throw new ArgumentException($"tensor '{Name}': shape {TensorInfo.FormatShape(Shape)} has a negative dimension");
                count = checked(count * dim);
            }
            return count;
        }
    }
}
