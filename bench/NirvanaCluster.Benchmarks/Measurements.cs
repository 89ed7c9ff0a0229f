namespace NirvanaCluster.Benchmarks;

/// <summary>Statistics and machine context shared by the benchmarks.</summary>
public static class Measurements
{
    /// <summary>Median of a non-empty list (sorts it in place).</summary>
    public static double Median(List<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("the median of no values is undefined", nameof(values));
        values.Sort();
        var mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    /// <summary>", load average 3.1" on Linux: other work on the machine skews the figures, so say how much there was.</summary>
    public static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? $", load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}" : "";
        }
        catch (IOException)
        {
            return "";
        }
    }
}
