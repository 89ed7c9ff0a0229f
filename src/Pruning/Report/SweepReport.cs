using System.Globalization;
using System.Text;
using NirvanaCluster.Pruning.Sweep;

namespace NirvanaCluster.Pruning.Report;

/// <summary>The sweep's report.md: what was written, the held-out set, every candidate's KL and which one won, and the chart.</summary>
public static class SweepReport
{
    public sealed record Model(SweepCandidate Candidate, string Path, int? Seed);

    public static string Render(string model, string method, string allocation, string calibration, string heldOut, double densePerplexity, long denseParameters,
        IReadOnlyList<Model> models, IReadOnlyList<(SweepCandidate Candidate, int? Seed)> candidates, bool selected, TimeSpan elapsed,
        string chartFile, string? pngFile)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append("# Pruning sweep report\n\n");
        md.Append(inv, $"| | |\n|---|---|\n| model | `{model}` |\n| method | {method} |\n| allocation | {allocation} |\n| calibration | {calibration} |\n");
        md.Append(inv, $"| held-out set (KL, perplexity; never calibration data) | {heldOut} |\n| wall time | {elapsed.TotalSeconds:F1} s |\n\n");
        md.Append("KL is KL(dense ‖ pruned) per held-out token, computed with the removed units masked in the dense model (equal to the compacted model's to float rounding).\n\n");
        md.Append(inv, $"![quality vs size]({chartFile})\n\n");
        if (pngFile is not null) md.Append(inv, $"(also as [{pngFile}]({pngFile}))\n\n");
        md.Append("## Models written\n\n| sparsity | gamma | seed | folder | parameters | KL | perplexity |\n|---:|---:|---:|---|---:|---:|---:|\n");
        md.Append(inv, $"| 0 (dense) | - | - | - | {denseParameters:N0} | 0 | {densePerplexity:F3} |\n");
        foreach (var m in models)
        {
            var q = m.Candidate.Quality!;
            md.Append(inv, $"| {m.Candidate.Sparsity:0.###} | {m.Candidate.Gamma:0.###} | {(m.Seed is { } s ? s.ToString(inv) : "-")} | [{m.Path}]({m.Path}/report.md) | {m.Candidate.Result.Plan.ParametersAfter:N0} | {q.Kl:F5} | {q.Perplexity:F3} |\n");
        }
        if (!selected) return md.ToString();
        md.Append("\n## Selection by held-out KL\n\n");
        foreach (var m in models)
        {
            var rivals = candidates.Where(c => c.Candidate.Sparsity == m.Candidate.Sparsity).ToArray();
            md.Append(inv, $"- sparsity {m.Candidate.Sparsity:0.###}: **gamma {m.Candidate.Gamma:0.###}{(m.Seed is { } s ? $", calibration seed {s}" : "")} chosen**, " +
                           $"the lowest KL ({m.Candidate.Quality!.Kl:F5}) of {rivals.Length} candidates");
            var fixedGamma = rivals.Where(c => Math.Abs(c.Candidate.Gamma - 3.36) < 1e-9 && c.Seed == m.Seed).Select(c => c.Candidate.Quality!.Kl).ToArray();
            if (fixedGamma.Length == 1 && Math.Abs(m.Candidate.Gamma - 3.36) > 1e-9) md.Append(inv, $" (gamma 3.36: {fixedGamma[0]:F5})");
            md.Append(".\n");
        }
        md.Append("\n| sparsity | gamma | seed | parameters | KL | perplexity | chosen |\n|---:|---:|---:|---:|---:|---:|:---:|\n");
        foreach (var (c, seed) in candidates)
        {
            var chosen = models.Any(m => ReferenceEquals(m.Candidate, c));
            md.Append(inv, $"| {c.Sparsity:0.###} | {c.Gamma:0.###} | {(seed is { } s ? s.ToString(inv) : "-")} | {c.Result.Plan.ParametersAfter:N0} | {c.Quality!.Kl:F5} | {c.Quality.Perplexity:F3} | {(chosen ? "✔" : "")} |\n");
        }
        return md.ToString();
    }
}
