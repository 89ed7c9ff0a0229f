using NirvanaCluster.Pruning.Objective;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>Which scalar a calibration pass differentiates.</summary>
public enum ObjectiveKind
{
    /// <summary>Forward only; the head returns its final hidden states.</summary>
    None,
    /// <summary>Forward only; the head returns each sequence's summed next-token NLL (evaluation).</summary>
    SequenceNll,
    MaxLogit,
    LanguageModelLoss,
    /// <summary>
    /// Forward only, masked evaluation: the head returns each sequence's NLL and, for variant k &gt; 0, its summed
    /// per-position KL(dense || variant k); it keeps the micro-batch's dense (variant 0) logits until its last variant.
    /// </summary>
    KlToDense,
}

public static class ObjectiveKinds
{
    public static ObjectiveKind For(PruningMethod method) => method switch
    {
        PruningMethod.Nirvana => ObjectiveKind.MaxLogit,
        PruningMethod.TaylorLoss => ObjectiveKind.LanguageModelLoss,
        _ => ObjectiveKind.None,
    };

    public static bool HasGradient(this ObjectiveKind kind) => kind is ObjectiveKind.MaxLogit or ObjectiveKind.LanguageModelLoss;

    public static IHeadObjective Create(ObjectiveKind kind, int totalSequences) => kind switch
    {
        ObjectiveKind.MaxLogit => new MaxLogitObjective(totalSequences),
        ObjectiveKind.LanguageModelLoss => new LanguageModelLoss(totalSequences),
        _ => throw new ArgumentException($"objective {kind} has no gradient"),
    };
}
