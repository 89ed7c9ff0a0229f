using NirvanaCluster.Pruning.Report;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// The quality-vs-size chart as PNG, through ScottPlot (SkiaSharp): held-out perplexity (log10, left axis) and KL
/// (right axis) against parameters; the written models joined by lines from the dense point, other candidates as
/// hollow markers. The SVG is the reference rendering; if the native library cannot load, the PNG is skipped.
/// </summary>
internal static class QualityChartPng
{
    public static bool TryWrite(string path, IReadOnlyList<QualityPoint> points, string title)
    {
        try
        {
            Write(path, points, title);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or BadImageFormatException or EntryPointNotFoundException)
        {
            Log.Warning("No PNG chart (the native drawing library did not load: {Reason}); the SVG chart is written", e.Message);
            return false;
        }
    }

    private static void Write(string path, IReadOnlyList<QualityPoint> points, string title)
    {
        var plot = new ScottPlot.Plot();
        var curve = points.Where(p => p.Kind != QualityPointKind.Candidate).OrderByDescending(p => p.Parameters).ToArray();
        var others = points.Where(p => p.Kind == QualityPointKind.Candidate).ToArray();
        double[] X(IEnumerable<QualityPoint> p) => p.Select(q => q.Parameters / 1e6).ToArray();
        double[] LogPpl(IEnumerable<QualityPoint> p) => p.Select(q => Math.Log10(Math.Max(q.Perplexity, 1e-12))).ToArray();
        var ppl = plot.Add.Scatter(X(curve), LogPpl(curve));
        ppl.LegendText = "perplexity (written models, dense first)";
        var kl = plot.Add.Scatter(X(curve), curve.Select(p => p.Kl).ToArray());
        kl.Axes.YAxis = plot.Axes.Right;
        kl.LegendText = "KL (written models), right axis";
        kl.LinePattern = ScottPlot.LinePattern.Dashed;
        kl.MarkerShape = ScottPlot.MarkerShape.FilledSquare;
        kl.MarkerSize = 7;
        ppl.MarkerSize = 7;
        if (others.Length > 0)
        {
            var pplOthers = plot.Add.Markers(X(others), LogPpl(others));
            pplOthers.MarkerShape = ScottPlot.MarkerShape.OpenCircle;
            pplOthers.MarkerSize = 8;
            pplOthers.Color = ppl.Color;
            pplOthers.LegendText = "perplexity, other candidates";
            var klOthers = plot.Add.Markers(X(others), others.Select(p => p.Kl).ToArray());
            klOthers.Axes.YAxis = plot.Axes.Right;
            klOthers.MarkerShape = ScottPlot.MarkerShape.OpenSquare;
            klOthers.MarkerSize = 8;
            klOthers.Color = kl.Color;
            klOthers.LegendText = "KL, other candidates";
        }
        foreach (var p in curve.Where(p => p.Kind == QualityPointKind.Model))
            plot.Add.Text(p.Label, p.Parameters / 1e6, Math.Log10(p.Perplexity));
        plot.Axes.Left.Label.Text = "log10 held-out perplexity";
        plot.Axes.Right.Label.Text = "KL(dense || pruned) per token";
        plot.Axes.Bottom.Label.Text = "parameters (millions)";
        plot.Title(title);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 1000, 480);
    }
}
