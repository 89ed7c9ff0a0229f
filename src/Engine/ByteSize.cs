using System.Globalization;

namespace NirvanaCluster.Engine;

/// <summary>
/// Memory sizes as people write them: a byte count, or a number with a decimal unit (K/KB = 10^3, M/MB = 10^6,
/// G/GB = 10^9, T/TB = 10^12 bytes) or a binary one (Ki/KiB = 2^10, Mi/MiB = 2^20, Gi/GiB = 2^30, Ti/TiB = 2^40),
/// as Kubernetes and the SI/IEC prefixes define them. Units are case-insensitive; a comma is refused, not guessed.
/// </summary>
public static class ByteSize
{
    public const string Help = "bytes, or a number with K/KB, M/MB, G/GB, T/TB (powers of 1000) or Ki/KiB, Mi/MiB, Gi/GiB, Ti/TiB (powers of 1024)";

    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000), ("B", 1),
    ];

    public static long Parse(string text, string flag)
    {
        var s = text.Trim();
        if (s.Contains(',')) throw new ArgumentException($"{flag}: '{text}' has a comma; write decimals with a point (e.g. {s.Replace(',', '.')}); units: {Help}");
        foreach (var (suffix, factor) in Units)
        {
            if (!s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            var number = s[..^suffix.Length].TrimEnd();
            if (double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v))
            {
                var bytes = v * factor;
                if (bytes >= long.MaxValue) throw new ArgumentException($"{flag}: '{text}' is too large");
                return Math.Max(1, (long)bytes);
            }
            break;
        }
        if (long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var plain) && plain > 0) return plain;
        throw new ArgumentException($"{flag}: '{text}' is not a positive size ({Help})");
    }

    /// <summary>A size in both unit systems, so nobody has to guess which was meant: "24.0 GiB (25.8 GB)".</summary>
    public static string Describe(long bytes) => $"{bytes / (double)(1L << 30):F1} GiB ({bytes / 1e9:F1} GB)";

    /// <summary>80% of the memory this process may use (the cgroup limit in a container).</summary>
    public static long DefaultBudget() => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8);
}
