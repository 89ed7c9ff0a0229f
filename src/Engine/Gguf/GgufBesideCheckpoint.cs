using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// Writes a checkpoint folder with a GGUF export of itself inside (<c>model.gguf</c>), all at once: the checkpoint
/// is written into a hidden staging folder beside the output, exported there, and the folder is moved into place
/// only when both are complete, so a failed export leaves no checkpoint without its GGUF (and no old folder lost).
/// </summary>
public static class GgufBesideCheckpoint
{
    /// <param name="outputDir">the folder to create</param>
    /// <param name="force">replace an existing <paramref name="outputDir"/> once the new one is complete</param>
    /// <param name="writeCheckpoint">writes the checkpoint into the (not yet existing) folder it is given</param>
    public static GgufExportSummary Write(string outputDir, bool force, GgufDType dtype, Action<string> writeCheckpoint)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir));
        if (Directory.Exists(full) && !force) throw new IOException($"output folder '{full}' already exists; pass --force to replace it");
        var name = Path.GetFileName(full);
        // A "partial" staging name, so that the next run cleans it up if this process is killed midway.
        var staging = StagingArea.NewPath(Path.GetDirectoryName(full)!, name, "partial");
        try
        {
            writeCheckpoint(staging);
            var summary = GgufExporter.Export(staging, Path.Combine(staging, GgufExporter.DefaultFileName),
                new GgufExportOptions { DType = dtype, Name = name });
            AtomicDirectory.Publish(staging, full, force);
            return summary with { Output = Path.Combine(full, GgufExporter.DefaultFileName) };
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }
}
