using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>The embedded default: one stage in this process holding the whole model.</summary>
public static class InProcessPlacement
{
    public static IReadOnlyList<IStage> Create(string modelDir)
    {
        using var checkpoint = Checkpoint.Open(modelDir);
        return [new LocalStage("in-process", new ShardWorker(ShardLoader.LoadAll(checkpoint)))];
    }
}
