using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Sweep;

/// <summary>
/// The unit scores of one scoring pass, with what they depend on: the criterion, the seed (calibration sampling or
/// random scores), a description of the calibration data, and the model they were computed for. Any sparsity and
/// gamma can be planned from them without another pass.
/// </summary>
public sealed record ScoreSet(IReadOnlyList<LayerScores> Layers, PruningMethod Method, int Seed, string Calibration, ModelIdentity Model,
    double? Objective = null);
