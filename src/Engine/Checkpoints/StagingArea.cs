using System.Diagnostics;
using System.Globalization;
using Serilog;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Names of temporary folders and files that stand beside an output while it is written
/// (<c>.NAME.partial-PID-TICKS-GUID</c>), and the clean-up of ones left by a process that was killed (SIGKILL, power
/// loss) before it could remove them. A leftover is stale when its owner process is gone, or when the pid now belongs
/// to a process that started after the leftover was made (the pid was reused); one without an owner in its name
/// (an older version's) is stale after <see cref="UnownedMaxAge"/>. A live writer's staging is never touched.
/// </summary>
public static class StagingArea
{
    public static readonly TimeSpan UnownedMaxAge = TimeSpan.FromHours(24);
    /// <summary>Start-time readings closer than this name the same process (a reused pid starts later than that).</summary>
    internal static readonly TimeSpan SameStartTolerance = TimeSpan.FromSeconds(1);
    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(StagingArea));

    /// <summary>A fresh hidden path beside <paramref name="name"/> in <paramref name="parent"/>; <paramref name="kind"/> is "partial" or "old".</summary>
    public static string NewPath(string parent, string name, string kind) =>
        Path.Combine(parent, $".{name}.{kind}-{Environment.ProcessId}-{ProcessStartTicks(Environment.ProcessId)}-{Guid.NewGuid():N}");

    /// <summary>Removes stale leftovers of writing <paramref name="name"/> in <paramref name="parent"/>; returns how many.</summary>
    public static int CleanStale(string parent, string name) => CleanStale(parent, $".{name}.", ["partial-", "old-"]);

    /// <summary>Removes stale entries in <paramref name="folder"/> whose names start with <paramref name="prefix"/> then one of <paramref name="kinds"/>.</summary>
    public static int CleanStale(string folder, string prefix, IReadOnlyList<string> kinds)
    {
        if (!Directory.Exists(folder)) return 0;
        var removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder, prefix + "*"))
        {
            var rest = Path.GetFileName(entry)[prefix.Length..];
            var kind = kinds.FirstOrDefault(k => rest.StartsWith(k, StringComparison.Ordinal));
            if (kind is null || !IsStale(entry, rest[kind.Length..])) continue;
            try
            {
                if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed++;
                Log.Information("Removed {Leftover}, left by a writer that is no longer running", entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.Warning("Could not remove the stale leftover {Leftover}: {Error}", entry, e.Message);
            }
        }
        return removed;
    }

    /// <summary>Whether the entry with owner part <paramref name="owner"/> ("PID-TICKS-GUID" or an older "GUID") is abandoned.</summary>
    internal static bool IsStale(string entry, string owner)
    {
        var parts = owner.Split('-');
        if (parts.Length == 3 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var pid)
                              && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var ticks))
        {
            // .NET derives a process's start time from a boot time each process computes for itself (measured: readings of
            // one live process from different processes differ by milliseconds), so compare with a tolerance, or another
            // nirvana run deletes a live writer's staging as "stale".
            var started = ProcessStartTicks(pid);
            return started is null || Math.Abs(started.Value - ticks) > SameStartTolerance.Ticks; // gone, or the pid now names another process
        }
        // No owner recorded (written by an older version): only age can tell.
        return DateTime.UtcNow - Directory.GetLastWriteTimeUtc(entry) > UnownedMaxAge;
    }

    /// <summary>The process's start time in ticks (null when no such process), the pair (pid, start) names a process uniquely.</summary>
    internal static long? ProcessStartTicks(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.StartTime.ToUniversalTime().Ticks;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
