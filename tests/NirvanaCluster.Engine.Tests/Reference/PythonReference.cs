using System.Diagnostics;

namespace NirvanaCluster.Engine.Tests.Reference;

/// <summary>Runs tests/reference/llama_reference.py (pure Python, standard library only) to make a checkpoint and its expected outputs.</summary>
public static class PythonReference
{
    public static string Script => Path.Combine(RepositoryRoot(), "tests", "reference", "llama_reference.py");

    public static string Make(string variant, int seed)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"nirvana-ref-{variant}-{seed}-{Guid.NewGuid():N}");
        Run("make", "--variant", variant, "--seed", seed.ToString(), "--out", dir);
        return dir;
    }

    public static string Run(params string[] args)
    {
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("python3 did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException("llama_reference.py took over 2 minutes"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"llama_reference.py {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NirvanaCluster.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (NirvanaCluster.sln) above the test binaries");
    }
}
