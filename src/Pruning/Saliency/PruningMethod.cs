namespace NirvanaCluster.Pruning.Saliency;

/// <summary>The saliency criteria; all share one allocation so comparisons isolate the criterion.</summary>
public enum PruningMethod
{
    /// <summary>|W * df/dW| with f = mean over (b, v) of max over t of the logits (NIRVANA.md section 1).</summary>
    Nirvana,
    /// <summary>|W|.</summary>
    Magnitude,
    /// <summary>|W * dLoss/dW| with the language-modelling loss (LLM-Pruner's first-order criterion).</summary>
    TaylorLoss,
    /// <summary>Seeded uniform random scores.</summary>
    Random,
}

public static class PruningMethods
{
    public static IReadOnlyList<string> Names { get; } = ["nirvana", "magnitude", "taylor-loss", "random"];

    public static PruningMethod Parse(string name) => name.ToLowerInvariant() switch
    {
        "nirvana" => PruningMethod.Nirvana,
        "magnitude" => PruningMethod.Magnitude,
        "taylor-loss" or "taylor" => PruningMethod.TaylorLoss,
        "random" => PruningMethod.Random,
        _ => throw new ArgumentException($"unknown method '{name}': expected one of {string.Join(", ", Names)}", "--method"),
    };

    public static string Name(this PruningMethod method) => Names[(int)method];

    public static bool NeedsGradients(this PruningMethod method) => method is PruningMethod.Nirvana or PruningMethod.TaylorLoss;
}
