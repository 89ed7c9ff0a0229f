namespace NirvanaCluster.Pruning.Objective;

/// <summary>
/// The scalar whose gradient drives a saliency, evaluated on the head shard for one micro-batch of final hidden
/// states x[Bm, T, D]. Returns this micro-batch's contribution to the scalar and writes dScalar/dx (assigned).
/// Contributions (and gradients) of the micro-batches of one calibration batch add up to the whole batch's.
/// </summary>
public interface IHeadObjective
{
    double ForwardBackward(Engine.Model.LlamaShard head, ReadOnlySpan<float> x, Span<float> dx, ReadOnlySpan<int> tokens, int batch, int positions);
}
