namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Creates a folder all at once: it is filled under a hidden sibling name and moved into place only when complete,
/// so a crash or an error leaves either the old folder or nothing, never half a model.
/// </summary>
public static class AtomicDirectory
{
    /// <param name="target">the folder to create</param>
    /// <param name="replace">replace an existing <paramref name="target"/> (only after the new one is complete)</param>
    /// <param name="fill">writes the content into the staging folder it is given</param>
    public static void Create(string target, bool replace, Action<string> fill)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        var parent = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{target}' has no parent folder", nameof(target));
        var name = Path.GetFileName(full);
        RefuseExisting(full, replace);
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{name}.partial-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            fill(staging);
            RefuseExisting(full, replace);
            if (Directory.Exists(full))
                Swap(full, staging, Path.Combine(parent, $".{name}.old-{Guid.NewGuid():N}"));
            else
                Directory.Move(staging, full);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    private static void RefuseExisting(string full, bool replace)
    {
        if (File.Exists(full))
            throw new IOException($"output '{full}' exists and is a file, not a folder");
        if (Directory.Exists(full) && !replace)
            throw new IOException($"output folder '{full}' already exists; remove it or pass force to replace it");
    }

    private static void Swap(string full, string staging, string old)
    {
        Directory.Move(full, old);
        try
        {
            Directory.Move(staging, full);
        }
        catch
        {
            Directory.Move(old, full); // put the previous folder back rather than leave nothing
            throw;
        }
        Directory.Delete(old, recursive: true);
    }
}
