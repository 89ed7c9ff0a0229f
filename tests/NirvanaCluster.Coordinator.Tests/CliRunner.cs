using System.Diagnostics;

namespace NirvanaCluster.Coordinator.Tests;

/// <summary>Runs the real `nirvana` (or `nirvana-node`) program as a user would, capturing its output.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string LastLine => Stdout.TrimEnd().Split('\n').Last();
    }

    public static Result Run(params string[] args) => RunProgram("nirvana.dll", args);

    public static Result RunProgram(string dll, string[] args, IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 300)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        // NIRVANA_TEST_PROGRAM_DIR runs the tests against another build (e.g. an older one, to see which cases it fails).
        var dir = Environment.GetEnvironmentVariable("NIRVANA_TEST_PROGRAM_DIR") is { Length: > 0 } other ? other : AppContext.BaseDirectory;
        psi.ArgumentList.Add(Path.Combine(dir, dll));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{dll} {string.Join(' ', args)} did not finish in {timeoutSeconds} s; stderr: {stderr.Result}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
