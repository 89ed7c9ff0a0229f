using System.Globalization;
using System.Text;
using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Pruning.Report;

/// <summary>An SVG bar chart of the kept fraction per layer, attention and MLP side by side: the allocation's shape.</summary>
public static class KeptFractionChart
{
    public static string Render(PruningPlan plan, string title)
    {
        const int width = 760, height = 330, left = 56, right = 16, top = 60, bottom = 44;
        var layers = plan.Layers;
        var plotWidth = width - left - right;
        var plotHeight = height - top - bottom;
        var slot = (double)plotWidth / Math.Max(1, layers.Count);
        var bar = Math.Max(1, slot * 0.38);
        var inv = CultureInfo.InvariantCulture;
        var svg = new StringBuilder();
        svg.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(inv, $"<text x=\"{width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Escape(title)}</text>\n");
        for (var tick = 0; tick <= 4; tick++)
        {
            var y = top + plotHeight * (1 - tick / 4.0);
            svg.Append(inv, $"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{width - right}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>");
            svg.Append(inv, $"<text x=\"{left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{tick * 25}%</text>\n");
        }
        for (var i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            var attention = (double)l.KeptKvGroups.Length / l.KvGroupsBefore;
            var mlp = (double)l.KeptMlpNeurons.Length / l.NeuronsBefore;
            var x = left + slot * i + slot * 0.1;
            Bar(svg, x, bar, attention, top, plotHeight, "#4c78a8", $"layer {l.Layer} attention: {l.KeptKvGroups.Length}/{l.KvGroupsBefore} KV groups");
            Bar(svg, x + bar, bar, mlp, top, plotHeight, "#f58518", $"layer {l.Layer} MLP: {l.KeptMlpNeurons.Length}/{l.NeuronsBefore} neurons");
            if (layers.Count <= 40 || i % 4 == 0)
                svg.Append(inv, $"<text x=\"{x + bar:F1}\" y=\"{top + plotHeight + 16}\" text-anchor=\"middle\">{l.Layer}</text>\n");
        }
        svg.Append(inv, $"<text x=\"{left + plotWidth / 2}\" y=\"{height - 10}\" text-anchor=\"middle\">layer</text>\n");
        // The legend sits in its own row between the title and the plot, so it never covers a bar or a label.
        svg.Append(inv, $"<rect x=\"{left}\" y=\"32\" width=\"10\" height=\"10\" fill=\"#4c78a8\"/><text x=\"{left + 14}\" y=\"41\">attention (KV groups kept)</text>\n");
        svg.Append(inv, $"<rect x=\"{left + 200}\" y=\"32\" width=\"10\" height=\"10\" fill=\"#f58518\"/><text x=\"{left + 214}\" y=\"41\">MLP (neurons kept)</text>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void Bar(StringBuilder svg, double x, double width, double fraction, int top, int plotHeight, string color, string tooltip)
    {
        var h = plotHeight * fraction;
        svg.Append(CultureInfo.InvariantCulture,
            $"<rect x=\"{x:F1}\" y=\"{top + plotHeight - h:F1}\" width=\"{width:F1}\" height=\"{h:F1}\" fill=\"{color}\"><title>{Escape(tooltip)}</title></rect>\n");
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
