using System.Text.Json;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// The one rule every command that writes follows, checked before any work starts and again just before the result
/// is moved into place:
///   1. no output may equal, contain or lie inside an input (compared as real paths: absolute, with every symbolic
///      link among the existing ancestors resolved, so <c>..</c> and links cannot hide a model folder);
///   2. an existing target is refused unless forced;
///   3. forcing replaces only what this program wrote (a folder holding <see cref="MarkerFileName"/>, or a file the
///      writer recognises as its own kind) or an empty folder, never anything else.
/// Errors name the flag (<c>--output</c> for the commands) and both paths.
/// </summary>
public static class OutputGuard
{
    /// <summary>Left in every folder this program writes, so that --force can tell its own output from a user's folder.</summary>
    public const string MarkerFileName = ".nirvana-output";

    private const int MaxLinkDepth = 40; // as Linux's MAXSYMLINKS: beyond this a chain of links is a loop

    /// <summary>
    /// The absolute path with every symbolic link among its existing components resolved (the final target of a chain);
    /// components that do not exist yet are appended as they are. Lexical <c>..</c> is resolved first, exactly as the
    /// writers resolve their target (<see cref="Path.GetFullPath(string)"/>), so the guard checks the place written to.
    /// </summary>
    public static string RealPath(string path) => RealPath(path, 0);

    private static string RealPath(string path, int depth)
    {
        if (depth > MaxLinkDepth) throw new IOException($"'{path}': too many levels of symbolic links");
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var root = Path.GetPathRoot(full) ?? "/";
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            var info = new FileInfo(next); // a FileInfo sees links to folders too (LinkTarget is set for either)
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true)
                             ?? throw new IOException($"'{next}': cannot resolve the symbolic link");
                // The target may itself sit under links; resolve it afresh, then go on with the remaining parts.
                var rest = string.Join(Path.DirectorySeparatorChar, parts[(i + 1)..]);
                var resolved = RealPath(target.FullName, depth + 1);
                return rest.Length == 0 ? resolved : RealPath(Path.Combine(resolved, rest), depth + 1);
            }
            if (!info.Exists && !Directory.Exists(next))
                return Path.Combine([current, .. parts[i..]]);
            current = next;
        }
        return current;
    }

    /// <summary>True when <paramref name="inner"/> is <paramref name="outer"/> or lies inside it (both real paths).</summary>
    public static bool IsSameOrInside(string inner, string outer)
    {
        if (string.Equals(inner, outer, StringComparison.Ordinal)) return true;
        var prefix = outer.EndsWith(Path.DirectorySeparatorChar) ? outer : outer + Path.DirectorySeparatorChar;
        return inner.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>
    /// Refuses an output that equals, contains or lies inside any input. Inputs that do not exist are skipped.
    /// Returns the output's real path.
    /// </summary>
    public static string CheckApartFromInputs(string output, IEnumerable<string?> inputs, string flag = "--output")
    {
        var real = RealPath(output);
        foreach (var input in inputs)
        {
            if (string.IsNullOrEmpty(input) || (!File.Exists(input) && !Directory.Exists(input))) continue;
            var realInput = RealPath(input);
            var shown = ShownAs(output, real);
            if (real == realInput)
                throw new ArgumentException($"{flag} {shown} is the input '{input}' itself; choose another path");
            if (IsSameOrInside(realInput, real))
                throw new ArgumentException($"{flag} {shown} contains the input '{input}' (at {realInput}); writing there would replace it; choose another path");
            if (IsSameOrInside(real, realInput))
                throw new ArgumentException($"{flag} {shown} lies inside the input '{input}' (at {realInput}); choose a path outside it");
        }
        return real;
    }

    /// <summary>
    /// Everything that can be checked about a folder output before any work: apart from the inputs, an existing one
    /// refused without <paramref name="force"/> and, with it, replaced only if this program wrote it or it is empty;
    /// the place writable. Returns the real path to write to.
    /// </summary>
    public static string CheckFolder(string output, bool force, IEnumerable<string?> inputs, string flag = "--output")
    {
        if (string.IsNullOrWhiteSpace(output)) throw new ArgumentException($"{flag}: a folder is required");
        var real = CheckApartFromInputs(output, inputs, flag);
        var shown = ShownAs(output, real);
        if (File.Exists(real)) throw new ArgumentException($"{flag} {shown} is an existing file; a folder is written there");
        if (Directory.Exists(real))
        {
            if (!force) throw new ArgumentException($"{flag}: folder {shown} already exists; pass --force to replace it");
            if (!IsReplaceableFolder(real))
                throw new ArgumentException($"{flag}: folder {shown} is not empty and was not written by nirvana (it has no {MarkerFileName}); " +
                                            "--force replaces only nirvana's own output or an empty folder; remove it yourself or choose another path");
        }
        CheckWritable(real, flag, shown);
        return real;
    }

    /// <summary>
    /// The same for a single-file output. With <paramref name="force"/>, an existing file is replaced only when
    /// <paramref name="isOwnKind"/> recognises it as the kind this writer produces (<paramref name="kind"/> names it).
    /// </summary>
    public static string CheckFile(string output, bool force, IEnumerable<string?> inputs, Func<string, bool> isOwnKind, string kind,
        string flag = "--output")
    {
        if (string.IsNullOrWhiteSpace(output)) throw new ArgumentException($"{flag}: a file is required");
        var real = CheckApartFromInputs(output, inputs, flag);
        var shown = ShownAs(output, real);
        if (Directory.Exists(real)) throw new ArgumentException($"{flag} {shown} is an existing folder; a file is written there");
        if (File.Exists(real))
        {
            if (!force) throw new ArgumentException($"{flag}: file {shown} already exists; pass --force to replace it");
            if (!isOwnKind(real))
                throw new ArgumentException($"{flag}: file {shown} is not {kind}; --force replaces only a file of that kind; remove it yourself or choose another path");
        }
        CheckWritable(real, flag, shown);
        return real;
    }

    /// <summary>A folder --force may replace: empty, or holding this program's marker.</summary>
    public static bool IsReplaceableFolder(string folder) =>
        !Directory.EnumerateFileSystemEntries(folder).Any() || File.Exists(Path.Combine(folder, MarkerFileName));

    /// <summary>Leaves the marker in a folder being written (the staging folder, before it moves into place).</summary>
    public static void WriteMarker(string folder, string what) =>
        File.WriteAllText(Path.Combine(folder, MarkerFileName),
            JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["written_by"] = "nirvana",
                ["what"] = what,
                ["written_at"] = DateTime.UtcNow.ToString("O"),
            }) + "\n");

    /// <summary>
    /// The folder the output is created in must be writable: the nearest existing ancestor is probed by creating and
    /// deleting a file, so that a read-only place is reported now and by the flag, not after the work by a staging path.
    /// </summary>
    public static void CheckWritable(string realOutput, string flag, string shown)
    {
        var parent = Path.GetDirectoryName(realOutput) ?? throw new ArgumentException($"{flag} {shown} has no parent folder");
        var existing = parent;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing)) throw new ArgumentException($"{flag} {shown}: '{existing}' is a file, not a folder");
            existing = Path.GetDirectoryName(existing) ?? throw new ArgumentException($"{flag} {shown}: no existing parent folder");
        }
        var probe = Path.Combine(existing, $".nirvana-write-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new ArgumentException($"{flag} {shown}: cannot write into '{existing}' ({e.Message})", e);
        }
        finally
        {
            if (File.Exists(probe)) File.Delete(probe);
        }
    }

    private static string ShownAs(string given, string real)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(given));
        return full == real ? $"'{given}'" : $"'{given}' (resolved to {real})";
    }
}
