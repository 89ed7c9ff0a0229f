using NirvanaCluster.Pruning.Report;
using Serilog;
using SkiaSharp;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// The quality-vs-size chart as PNG, laid out as the SVG: two panels sharing the parameters axis, held-out perplexity
/// (log10) and KL(dense || pruned); the written models joined by a line from the dense point, other candidates hollow.
/// Drawn with ScottPlot (SkiaSharp underneath); the SVG is the reference rendering, and if the native library does not
/// load here the PNG is skipped with a warning.
/// </summary>
internal static class QualityChartPng
{
    private const int PanelWidth = 560, Height = 460;

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
        using var surface = SKSurface.Create(new SKImageInfo(2 * PanelWidth, Height));
        surface.Canvas.Clear(SKColors.White);
        Draw(surface.Canvas, 0, Panel(points, title, "log10 held-out perplexity", p => Math.Log10(Math.Max(p.Perplexity, 1e-12))));
        Draw(surface.Canvas, PanelWidth, Panel(points, "KL(dense || pruned) per held-out token", "KL per held-out token", p => p.Kl));
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, png.ToArray());
    }

    private static void Draw(SKCanvas canvas, int left, ScottPlot.Plot plot)
    {
        using var bitmap = SKBitmap.Decode(plot.GetImage(PanelWidth, Height).GetImageBytes());
        canvas.DrawBitmap(bitmap, left, 0);
    }

    private static ScottPlot.Plot Panel(IReadOnlyList<QualityPoint> points, string title, string yLabel, Func<QualityPoint, double> y)
    {
        var plot = new ScottPlot.Plot();
        var curve = points.Where(p => p.Kind != QualityPointKind.Candidate).OrderByDescending(p => p.Parameters).ToArray();
        var others = points.Where(p => p.Kind == QualityPointKind.Candidate).ToArray();
        var line = plot.Add.Scatter(curve.Select(p => p.Parameters / 1e6).ToArray(), curve.Select(y).ToArray());
        line.LegendText = "written models (lowest KL at their sparsity)";
        line.MarkerSize = 8;
        var dense = points.Where(p => p.Kind == QualityPointKind.Dense).ToArray();
        var denseMarks = plot.Add.Markers(dense.Select(p => p.Parameters / 1e6).ToArray(), dense.Select(y).ToArray());
        denseMarks.MarkerShape = ScottPlot.MarkerShape.FilledDiamond;
        denseMarks.MarkerSize = 12;
        denseMarks.Color = ScottPlot.Colors.Black;
        denseMarks.LegendText = "dense";
        if (others.Length > 0)
        {
            var hollow = plot.Add.Markers(others.Select(p => p.Parameters / 1e6).ToArray(), others.Select(y).ToArray());
            hollow.MarkerShape = ScottPlot.MarkerShape.OpenCircle;
            hollow.MarkerSize = 9;
            hollow.Color = ScottPlot.Colors.Orange;
            hollow.LegendText = "other candidates (gamma, seed)";
        }
        foreach (var p in curve.Where(p => p.Kind == QualityPointKind.Model))
            plot.Add.Text(p.Label, p.Parameters / 1e6, y(p));
        plot.Axes.Left.Label.Text = yLabel;
        plot.Axes.Bottom.Label.Text = "parameters (millions)";
        plot.Title(title);
        plot.Axes.Title.Label.FontSize = 13; // the panel is half the image: keep the title inside it
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot;
    }
}
