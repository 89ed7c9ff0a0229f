namespace NirvanaCluster.Pruning.Sweep;

/// <summary>
/// The gammas `--gamma auto` tries: from 1 (both pools pruned at the same fraction) past the authors' 3.36 (Llama-3.1-8B)
/// to 6, denser where the authors' values lie. Each costs one masked forward over the held-out set per sparsity.
/// </summary>
public static class GammaGrid
{
    public static IReadOnlyList<double> Default { get; } = [1, 1.5, 2, 2.5, 3, 3.36, 4, 5, 6];

    public static string Describe(IEnumerable<double> grid) =>
        string.Join(" ", grid.Select(g => g.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
}
