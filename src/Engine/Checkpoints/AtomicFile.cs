namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Writes one output file all at once, by the rules of <see cref="OutputGuard"/>: it is written under a hidden name
/// beside the target and moved into place only when complete; an existing target is replaced only with force and only
/// when the writer recognises it as its own kind; the target may not equal, contain or lie inside an input. The shared
/// path of every single-file writer (`nirvana sample`, `export`).
/// </summary>
public static class AtomicFile
{
    /// <param name="target">the file to create</param>
    /// <param name="force">replace an existing file of the same kind</param>
    /// <param name="inputs">files and folders read to make the output</param>
    /// <param name="isOwnKind">recognises a file this writer would produce (only such a file is replaced)</param>
    /// <param name="kind">what that kind is called in errors, e.g. "a JSON token file"</param>
    /// <param name="write">writes the whole content to the temporary path it is given</param>
    /// <param name="flag">the flag named in errors</param>
    public static string Write(string target, bool force, IEnumerable<string?> inputs, Func<string, bool> isOwnKind, string kind,
        Action<string> write, string flag = "--output")
    {
        var protectedInputs = inputs.ToArray();
        var real = OutputGuard.CheckFile(target, force, protectedInputs, isOwnKind, kind, flag);
        var parent = Path.GetDirectoryName(real)!;
        Directory.CreateDirectory(parent);
        StagingArea.CleanStale(parent, Path.GetFileName(real));
        var temp = StagingArea.NewPath(parent, Path.GetFileName(real), "partial");
        try
        {
            write(temp);
            OutputGuard.CheckFile(target, force, protectedInputs, isOwnKind, kind, flag); // again, at the last moment
            File.Move(temp, real, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return real;
    }
}
