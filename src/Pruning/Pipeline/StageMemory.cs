using System.Globalization;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// A stage's memory, planned and measured: the schedule it ran, the bytes the planner counted for it
/// (<see cref="StageMemoryModel"/>; 0 before its first pass), the process's peak resident set so far (VmHWM:
/// runtime included, what /usr/bin/time reports) and the largest managed heap seen. In-process the peak is the
/// whole process's (coordinator included). One record to carry from node to coordinator.
/// </summary>
public sealed record StageMemory(string Schedule, long PlannedBytes, long PeakResidentBytes, long PeakManagedBytes)
{
    public override string ToString() =>
        $"{Schedule}: planned {ByteSizes.Format(PlannedBytes)}, peak RSS {ByteSizes.Format(PeakResidentBytes)}, peak managed heap {ByteSizes.Format(PeakManagedBytes)}";
}

/// <summary>The process's resident memory from /proc/self/status (Linux); 0 where that file does not exist.</summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set size since the process started (VmHWM), in bytes.</summary>
    public static long PeakResidentBytes() => Read("VmHWM:");

    /// <summary>Current resident set size (VmRSS), in bytes.</summary>
    public static long ResidentBytes() => Read("VmRSS:");

    private static long Read(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024; // reported in kB
                }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}

/// <summary>Byte counts as people read them: binary units (KiB = 2^10, MiB = 2^20, GiB = 2^30 bytes).</summary>
public static class ByteSizes
{
    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>
    /// Parses a size: a plain byte count, or a number with a unit. Decimal units K, M, G, T (also KB, MB, GB, TB)
    /// are powers of 1000; binary units Ki, Mi, Gi, Ti (also KiB, MiB, GiB, TiB) are powers of 1024.
    /// </summary>
    public static long Parse(string text, string flag)
    {
        var s = text.Trim();
        var units = new (string Suffix, long Factor)[]
        {
            ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
            ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
            ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
            ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
            ("B", 1),
        };
        foreach (var (suffix, factor) in units)
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(s[..^suffix.Length].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v))
                return checked((long)(v * factor));
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes) && bytes > 0) return bytes;
        throw new ArgumentException($"{flag}: '{text}' is not a positive size; give bytes, or a number with K, M, G, T (powers of 1000: 1G = 10^9 bytes) or Ki, Mi, Gi, Ti (powers of 1024: 1Gi = 2^30 bytes)");
    }
}
