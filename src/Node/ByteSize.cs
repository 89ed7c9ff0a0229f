using System.Globalization;

namespace NirvanaCluster.Node;

/// <summary>Parses memory sizes such as 512M, 6G, 4Gi or a plain byte count.</summary>
public static class ByteSize
{
    public static long Parse(string text, string flag)
    {
        var s = text.Trim();
        var units = new (string Suffix, long Factor)[]
        {
            ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
            ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        };
        foreach (var (suffix, factor) in units)
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && double.TryParse(s[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0)
                return checked((long)(v * factor));
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes) && bytes > 0) return bytes;
        throw new ArgumentException($"{flag}: '{text}' is not a positive size (bytes, or with K, M, G, Ki, Mi, Gi)");
    }

    /// <summary>80% of the memory this process may use (the cgroup limit in a container).</summary>
    public static long DefaultBudget() => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8);
}
