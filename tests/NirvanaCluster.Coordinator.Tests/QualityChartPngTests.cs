using NirvanaCluster.Coordinator.Run;
using NirvanaCluster.Pruning.Report;

namespace NirvanaCluster.Coordinator.Tests;

public class QualityChartPngTests
{
    [Fact]
    public void The_png_chart_is_a_two_panel_png_where_the_native_library_loads()
    {
        QualityPoint[] points =
        [
            new(15_191_712, 2.7, 0, "dense", QualityPointKind.Dense),
            new(14_058_144, 5.06, 0.64, "s 0.2, gamma 3.36", QualityPointKind.Model),
            new(12_274_848, 156.7, 4.07, "s 0.5, gamma 1", QualityPointKind.Model),
            new(12_300_000, 980, 6.2, "s 0.5, gamma 3.36", QualityPointKind.Candidate),
        ];
        var path = Path.Combine(Path.GetTempPath(), "nirvana-quality-chart-test.png");
        Assert.True(QualityChartPng.TryWrite(path, points, "test"), "SkiaSharp's native library should load on this machine");
        var bytes = File.ReadAllBytes(path);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        // IHDR: width and height, big-endian, at bytes 16..24.
        Assert.Equal(1120, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(460, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }
}
