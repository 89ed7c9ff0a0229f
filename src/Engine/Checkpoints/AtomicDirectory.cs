namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Creates a folder all at once: it is filled under a hidden sibling name and moved into place only when complete,
/// so a crash or an error leaves either the old folder or nothing, never half a model. The folder carries
/// <see cref="OutputGuard.MarkerFileName"/>, and <see cref="OutputGuard"/>'s rules are checked before filling and
/// again just before the move, so no writer can replace an input or a folder this program did not write.
/// </summary>
public static class AtomicDirectory
{
    /// <param name="target">the folder to create</param>
    /// <param name="replace">replace an existing <paramref name="target"/> (only after the new one is complete, and only
    /// when it is empty or this program wrote it)</param>
    /// <param name="fill">writes the content into the staging folder it is given</param>
    /// <param name="inputs">files and folders the output must not equal, contain or lie inside</param>
    /// <param name="what">what the folder holds, recorded in its marker</param>
    public static void Create(string target, bool replace, Action<string> fill, IEnumerable<string?>? inputs = null, string what = "checkpoint")
    {
        var protectedInputs = (inputs ?? []).ToArray();
        var full = OutputGuard.CheckFolder(target, replace, protectedInputs, flag: "output");
        var parent = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{target}' has no parent folder", nameof(target));
        var name = Path.GetFileName(full);
        Directory.CreateDirectory(parent);
        StagingArea.CleanStale(parent, name); // what a killed writer of the same target left
        var staging = StagingArea.NewPath(parent, name, "partial");
        Directory.CreateDirectory(staging);
        try
        {
            OutputGuard.WriteMarker(staging, what);
            fill(staging);
            // Someone may have put something at the target while we worked: the same rules again, at the last moment.
            OutputGuard.CheckFolder(target, replace, protectedInputs, flag: "output");
            if (Directory.Exists(full))
                Swap(full, staging, StagingArea.NewPath(parent, name, "old"));
            else
                Directory.Move(staging, full);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Moves a complete <paramref name="staging"/> folder (written elsewhere, e.g. a checkpoint plus its GGUF export)
    /// to <paramref name="target"/>, under the same rules as <see cref="Create"/>.
    /// </summary>
    public static void Publish(string staging, string target, bool replace)
    {
        var full = OutputGuard.CheckFolder(target, replace, [], flag: "output");
        if (Directory.Exists(full))
            Swap(full, staging, StagingArea.NewPath(Path.GetDirectoryName(full)!, Path.GetFileName(full), "old"));
        else
            Directory.Move(staging, full);
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
