namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>How a stage runs the backward of a calibration pass. Both give bitwise the same scores.</summary>
public enum StageSchedule
{
    /// <summary>
    /// Tapes per micro-batch in flight and one fp32 gradient accumulator per layer for the whole pass: each
    /// micro-batch's backward runs as soon as its gradient arrives. The faster schedule, and the default.
    /// </summary>
    AllLayers,

    /// <summary>
    /// At most one layer's gradient at a time: forward keeps only each layer's input for every micro-batch; after
    /// the last micro-batch the stage goes down its layers one at a time, recomputing that layer's forward per
    /// micro-batch, accumulating its dW, reducing it to unit scores and freeing it before the next layer. The
    /// stage sends its input gradients for all micro-batches at once, after the last one.
    /// </summary>
    LayerBounded,
}

public static class StageSchedules
{
    public static string Name(this StageSchedule schedule) => schedule switch
    {
        StageSchedule.AllLayers => "all-layers",
        StageSchedule.LayerBounded => "layer-bounded",
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, null),
    };

    /// <summary>Parses <c>all-layers</c> or <c>layer-bounded</c>; an empty string is the default (all-layers).</summary>
    public static StageSchedule Parse(string? text, string what = "schedule") => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "all-layers" => StageSchedule.AllLayers,
        "layer-bounded" => StageSchedule.LayerBounded,
        _ => throw new ArgumentException($"{what}: unknown schedule '{text}', expected all-layers or layer-bounded"),
    };
}
