using System.Globalization;
using System.Xml.Linq;
using NirvanaCluster.Pruning.Report;

namespace NirvanaCluster.Pruning.Tests;

public class QualityChartTests
{
    [Fact]
    public void Every_point_is_drawn_inside_the_canvas_in_both_panels()
    {
        QualityPoint[] points =
        [
            new(15_191_712, 2.7, 0, "dense", QualityPointKind.Dense),
            new(14_058_144, 5.06, 0.64, "s 0.2, gamma 3.36", QualityPointKind.Model),
            new(12_274_848, 156.7, 4.07, "s 0.5, gamma 3.36", QualityPointKind.Model),
            new(14_100_000, 6.1, 0.71, "s 0.2, gamma 1", QualityPointKind.Candidate),
            new(12_300_000, 980, 6.2, "s 0.5, gamma 1", QualityPointKind.Candidate),
        ];
        var svg = XDocument.Parse(QualityChart.Render(points, "title & <escaped>"));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var root = svg.Root!;
        double width = double.Parse(root.Attribute("width")!.Value, CultureInfo.InvariantCulture), height = double.Parse(root.Attribute("height")!.Value, CultureInfo.InvariantCulture);
        var marks = root.Elements(ns + "circle").Where(c => c.Element(ns + "title") is not null).ToArray();
        Assert.Equal(2 * 4, marks.Length); // models and candidates, in the perplexity and the KL panel
        Assert.Equal(2 * 2, marks.Count(c => c.Attribute("fill")!.Value == "none")); // candidates hollow
        Assert.Equal(2, root.Elements(ns + "rect").Count(r => r.Element(ns + "title") is not null)); // dense
        foreach (var c in marks)
        {
            Assert.InRange(double.Parse(c.Attribute("cx")!.Value, CultureInfo.InvariantCulture), 0, width);
            Assert.InRange(double.Parse(c.Attribute("cy")!.Value, CultureInfo.InvariantCulture), 0, height);
        }
        Assert.Contains(root.Elements(ns + "text"), t => t.Value == "title & <escaped>");
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "nirvana-quality-chart-test.svg"), svg.ToString());
    }
}
