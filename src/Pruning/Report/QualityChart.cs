using System.Globalization;
using System.Text;

namespace NirvanaCluster.Pruning.Report;

/// <summary>One point of the quality-vs-size chart.</summary>
public sealed record QualityPoint(long Parameters, double Perplexity, double Kl, string Label, QualityPointKind Kind);

public enum QualityPointKind { Dense, Model, Candidate }

/// <summary>
/// The sweep's quality-vs-size curve as SVG, in <see cref="KeptFractionChart"/>'s style: two panels sharing the
/// x axis (parameters): held-out perplexity (log scale) and KL(dense || pruned). The dense model is the reference
/// point (black diamond), the written models are joined by a line (filled), every other candidate (each gamma,
/// each calibration seed) is a hollow circle; hovering a point names it.
/// </summary>
public static class QualityChart
{
    private const int Width = 980, Height = 400, PanelWidth = 400, Top = 72, Bottom = 50, Left = 70, Gap = 90;

    public static string Render(IReadOnlyList<QualityPoint> points, string title)
    {
        if (points.Count == 0) throw new ArgumentException("nothing to draw");
        var inv = CultureInfo.InvariantCulture;
        var svg = new StringBuilder();
        svg.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(inv, $"<text x=\"{Width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        Legend(svg);
        var (xMin, xMax) = Range(points.Select(p => (double)p.Parameters), log: false);
        (xMin, xMax) = (xMin - (xMax - xMin) * 0.04, xMax + (xMax - xMin) * 0.04);
        Panel(svg, points, Left, "held-out perplexity (log scale)", p => p.Perplexity, log: true, xMin, xMax);
        Panel(svg, points, Left + PanelWidth + Gap, "KL(dense || pruned) per token", p => p.Kl, log: false, xMin, xMax);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void Panel(StringBuilder svg, IReadOnlyList<QualityPoint> points, int left, string yTitle, Func<QualityPoint, double> y, bool log,
        double xMin, double xMax)
    {
        var inv = CultureInfo.InvariantCulture;
        var plotHeight = Height - Top - Bottom;
        var values = points.Select(y).Where(v => double.IsFinite(v) && (!log || v > 0)).ToArray();
        var (yMin, yMax) = Range(values.Length > 0 ? values : [1], log);
        if (!log) yMin = 0; // KL starts at the dense model's 0
        var ticks = log ? LogTicks(yMin, yMax) : LinearTicks(yMin, ref yMax);
        double X(double v) => left + PanelWidth * (v - xMin) / (xMax - xMin);
        double Y(double v)
        {
            var t = log ? (Math.Log10(Math.Max(v, double.Epsilon)) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) : (v - yMin) / (yMax - yMin);
            return Top + plotHeight * (1 - Math.Clamp(t, 0, 1));
        }
        svg.Append(inv, $"<rect x=\"{left}\" y=\"{Top}\" width=\"{PanelWidth}\" height=\"{plotHeight}\" fill=\"none\" stroke=\"#999\"/>\n");
        foreach (var v in ticks)
        {
            var yy = Y(v);
            svg.Append(inv, $"<line x1=\"{left}\" y1=\"{yy:F1}\" x2=\"{left + PanelWidth}\" y2=\"{yy:F1}\" stroke=\"#ddd\"/>");
            svg.Append(inv, $"<text x=\"{left - 6}\" y=\"{yy + 4:F1}\" text-anchor=\"end\">{Format(v)}</text>\n");
        }
        for (var i = 0; i <= 4; i++)
        {
            var xv = xMin + (xMax - xMin) * i / 4;
            svg.Append(inv, $"<text x=\"{X(xv):F1}\" y=\"{Top + plotHeight + 16}\" text-anchor=\"middle\">{xv / 1e6:0.##}M</text>\n");
        }
        svg.Append(inv, $"<text x=\"{left + PanelWidth / 2}\" y=\"{Height - 12}\" text-anchor=\"middle\">parameters</text>\n");
        svg.Append(inv, $"<text x=\"{left}\" y=\"{Top - 10}\" font-weight=\"bold\">{Escape(yTitle)}</text>\n");
        // The curve: dense, then the written models from largest to smallest.
        var curve = points.Where(p => p.Kind != QualityPointKind.Candidate && double.IsFinite(y(p))).OrderByDescending(p => p.Parameters).ToArray();
        if (curve.Length > 1)
            svg.Append(inv, $"<polyline fill=\"none\" stroke=\"#4c78a8\" stroke-width=\"1.5\" points=\"{string.Join(" ", curve.Select(p => $"{X(p.Parameters):F1},{Y(y(p)):F1}"))}\"/>\n");
        foreach (var p in points.OrderBy(p => p.Kind == QualityPointKind.Candidate ? 0 : 1))
        {
            if (!double.IsFinite(y(p))) continue;
            var (cx, cy) = (X(p.Parameters), Y(y(p)));
            var tip = string.Create(inv, $"<title>{Escape(p.Label)}: {p.Parameters:N0} parameters, perplexity {p.Perplexity:G4}, KL {p.Kl:G4}</title>");
            svg.Append(p.Kind switch
            {
                QualityPointKind.Dense => string.Create(inv, $"<rect x=\"{cx - 5:F1}\" y=\"{cy - 5:F1}\" width=\"10\" height=\"10\" fill=\"black\" transform=\"rotate(45 {cx:F1} {cy:F1})\">{tip}</rect>\n"),
                QualityPointKind.Model => string.Create(inv, $"<circle cx=\"{cx:F1}\" cy=\"{cy:F1}\" r=\"5\" fill=\"#4c78a8\">{tip}</circle>\n"),
                _ => string.Create(inv, $"<circle cx=\"{cx:F1}\" cy=\"{cy:F1}\" r=\"4\" fill=\"none\" stroke=\"#f58518\" stroke-width=\"1.5\">{tip}</circle>\n"),
            });
            if (p.Kind == QualityPointKind.Model)
                svg.Append(inv, $"<text x=\"{cx + 7:F1}\" y=\"{cy - 6:F1}\" font-size=\"10\">{Escape(p.Label)}</text>\n");
        }
    }

    private static void Legend(StringBuilder svg)
    {
        var inv = CultureInfo.InvariantCulture;
        svg.Append(inv, $"<rect x=\"{Left}\" y=\"33\" width=\"9\" height=\"9\" fill=\"black\" transform=\"rotate(45 {Left + 4.5} 37.5)\"/><text x=\"{Left + 14}\" y=\"42\">dense</text>\n");
        svg.Append(inv, $"<circle cx=\"{Left + 84}\" cy=\"37.5\" r=\"5\" fill=\"#4c78a8\"/><text x=\"{Left + 94}\" y=\"42\">written model (lowest KL at its sparsity)</text>\n");
        svg.Append(inv, $"<circle cx=\"{Left + 364}\" cy=\"37.5\" r=\"4\" fill=\"none\" stroke=\"#f58518\" stroke-width=\"1.5\"/><text x=\"{Left + 374}\" y=\"42\">other candidate (gamma, calibration seed)</text>\n");
    }

    private static (double Min, double Max) Range(IEnumerable<double> values, bool log)
    {
        var v = values.ToArray();
        double min = v.Min(), max = v.Max();
        if (log)
        {
            min = Math.Pow(10, Math.Floor(Math.Log10(min) * 8) / 8);
            max = Math.Pow(10, Math.Ceiling(Math.Log10(max) * 8) / 8);
            if (max <= min) max = min * 10;
            return (min, max);
        }
        var pad = (max - min) * 0.06;
        if (pad == 0) pad = Math.Max(Math.Abs(max) * 0.1, 1e-3);
        return (min - pad, max + pad);
    }

    /// <summary>1-2-5 ticks inside [min, max] (log axes).</summary>
    private static double[] LogTicks(double min, double max)
    {
        var ticks = new List<double>();
        for (var e = Math.Floor(Math.Log10(min)); e <= Math.Ceiling(Math.Log10(max)); e++)
            foreach (var m in new[] { 1.0, 2, 5 })
            {
                var v = m * Math.Pow(10, e);
                if (v >= min * 0.999 && v <= max * 1.001) ticks.Add(v);
            }
        return ticks.Count >= 2 ? [.. ticks] : [min, max];
    }

    /// <summary>About 4 round-numbered ticks from <paramref name="min"/>; <paramref name="max"/> grows to the last tick.</summary>
    private static double[] LinearTicks(double min, ref double max)
    {
        var raw = (max - min) / 4;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = new[] { 1.0, 2, 2.5, 5, 10 }.Select(m => m * magnitude).First(st => st >= raw);
        max = min + Math.Ceiling((max - min) / step - 1e-9) * step;
        var count = (int)Math.Round((max - min) / step);
        return Enumerable.Range(0, count + 1).Select(i => min + i * step).ToArray();
    }

    private static string Format(double v) =>
        Math.Abs(v) >= 1000 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
