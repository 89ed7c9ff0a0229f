using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// A tensor to write: its name, shape and a producer of its values (row-major), either fp32 values or a weight held
/// at some precision. The producer is called once, when the writer reaches the tensor, so a large model can be
/// written tensor by tensor without holding it all. A weight whose dtype is the one written is copied bit for bit.
/// </summary>
public sealed record NamedTensor
{
    public string Name { get; }
    public long[] Shape { get; }
    /// <summary>Producer of fp32 values (null when <see cref="ProduceWeight"/> is set).</summary>
    public Func<ReadOnlyMemory<float>>? Produce { get; }
    /// <summary>Producer of a held weight (null when <see cref="Produce"/> is set).</summary>
    public Func<WeightMatrix>? ProduceWeight { get; }

    public NamedTensor(string name, long[] shape, Func<ReadOnlyMemory<float>> produce)
    {
        Name = name;
        Shape = shape;
        Produce = produce ?? throw new ArgumentNullException(nameof(produce));
    }

    /// <summary>A tensor whose values are already in memory.</summary>
    public NamedTensor(string name, long[] shape, ReadOnlyMemory<float> data) : this(name, shape, () => data) { }

    /// <summary>A weight already in memory, written at its own bits when the dtypes agree.</summary>
    public NamedTensor(string name, long[] shape, WeightMatrix weight)
    {
        Name = name;
        Shape = shape;
        ArgumentNullException.ThrowIfNull(weight);
        ProduceWeight = () => weight;
    }

    private NamedTensor(string name, long[] shape, Func<WeightMatrix> produce)
    {
        Name = name;
        Shape = shape;
        ProduceWeight = produce;
    }

    /// <summary>A weight produced when the writer reaches it (compaction streams tensors this way).</summary>
    public static NamedTensor FromWeight(string name, long[] shape, Func<WeightMatrix> produce) =>
        new(name, shape, produce ?? throw new ArgumentNullException(nameof(produce)));

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
