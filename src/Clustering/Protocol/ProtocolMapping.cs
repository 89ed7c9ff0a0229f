using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;
using ProtoDType = NirvanaCluster.Messages.Pruning.DType;

namespace NirvanaCluster.Clustering.Protocol;

/// <summary>
/// The one place where protocol values meet the library's types, in both directions. Every mapping is exhaustive
/// and throws on a value it does not know: a peer that sends something new is refused, never silently reinterpreted.
/// </summary>
public static class ProtocolMapping
{
    public static Objective ToProto(ObjectiveKind kind) => kind switch
    {
        ObjectiveKind.SequenceNll => Objective.SequenceNll,
        ObjectiveKind.MaxLogit => Objective.MaxLogit,
        ObjectiveKind.LanguageModelLoss => Objective.LmLoss,
        ObjectiveKind.KlToDense => Objective.KlToDense,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "this objective is not sent to stages"),
    };

    public static ObjectiveKind FromProto(Objective objective) => objective switch
    {
        Objective.SequenceNll => ObjectiveKind.SequenceNll,
        Objective.MaxLogit => ObjectiveKind.MaxLogit,
        Objective.LmLoss => ObjectiveKind.LanguageModelLoss,
        Objective.KlToDense => ObjectiveKind.KlToDense,
        _ => throw new InvalidDataException($"unknown objective {objective} in the pass request"),
    };

    public static Method ToProto(PruningMethod method) => method switch
    {
        PruningMethod.Nirvana => Method.Nirvana,
        PruningMethod.Magnitude => Method.Magnitude,
        PruningMethod.TaylorLoss => Method.TaylorLoss,
        PruningMethod.Random => Method.Random,
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "no protocol value for this method"),
    };

    public static PruningMethod FromProto(Method method) => method switch
    {
        Method.Nirvana => PruningMethod.Nirvana,
        Method.Magnitude => PruningMethod.Magnitude,
        Method.TaylorLoss => PruningMethod.TaylorLoss,
        Method.Random => PruningMethod.Random,
        _ => throw new InvalidDataException($"unknown method {method} in the scoring request"),
    };

    public static ProtoDType ToProto(Engine.Checkpoints.DType dtype) => dtype switch
    {
        Engine.Checkpoints.DType.F32 => ProtoDType.F32,
        Engine.Checkpoints.DType.BF16 => ProtoDType.Bf16,
        Engine.Checkpoints.DType.F16 => ProtoDType.F16,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "weights are written as F32, BF16 or F16"),
    };

    public static Engine.Checkpoints.DType FromProto(ProtoDType dtype) => dtype switch
    {
        ProtoDType.F32 => Engine.Checkpoints.DType.F32,
        ProtoDType.Bf16 => Engine.Checkpoints.DType.BF16,
        ProtoDType.F16 => Engine.Checkpoints.DType.F16,
        _ => throw new InvalidDataException($"unknown weight dtype {dtype} in the compaction request"),
    };

    public static Scores ToProto(IEnumerable<LayerScores> scores)
    {
        var result = new Scores();
        foreach (var s in scores)
        {
            var layer = new LayerScore { Layer = s.Layer };
            layer.Attention.AddRange(s.Attention);
            layer.Mlp.AddRange(s.Mlp);
            result.Layers.Add(layer);
        }
        return result;
    }

    public static LayerScores[] FromProto(Scores scores) =>
        scores.Layers.Select(l => new LayerScores(l.Layer, [.. l.Attention], [.. l.Mlp])).ToArray();

    public static LayerKeep ToProto(LayerPlan plan)
    {
        var keep = new LayerKeep { Layer = plan.Layer };
        keep.KvGroups.AddRange(plan.KeptKvGroups);
        keep.Neurons.AddRange(plan.KeptMlpNeurons);
        return keep;
    }

    /// <summary>A stage needs only what to keep; sizes before and scores stay with the coordinator.</summary>
    public static LayerPlan FromProto(LayerKeep keep) => new(keep.Layer, 0, 0, [.. keep.KvGroups], [.. keep.Neurons], [], []);

    public static LoadShard ToLoadShard(string jobId, string stageName, string modelPath, StageDescriptor stage) => new()
    {
        JobId = jobId, StageName = stageName, ModelPath = modelPath,
        FirstLayer = stage.FirstLayer, EndLayer = stage.EndLayer, Embedding = stage.HasEmbedding, Head = stage.HasHead,
    };

    public static StageDescriptor Descriptor(LoadShard load) => new(load.FirstLayer, load.EndLayer, load.Embedding, load.Head);
}
