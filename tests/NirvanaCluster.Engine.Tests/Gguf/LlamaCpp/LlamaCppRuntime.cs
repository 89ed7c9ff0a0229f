using System.Diagnostics;
using System.Text.Json;
using NirvanaCluster.Engine.Assets;

namespace NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

/// <summary>
/// A real llama.cpp: npm's node-llama-cpp@3.21.1 with its CPU prebuilt (bundling llama.cpp release v0.4.0),
/// installed once into <c>$NIRVANA_CACHE/node-llama-cpp</c> (by .ci/run, or here on first use), driven by the
/// checked-in script <c>tests/llamacpp/llamacpp.mjs</c>. Calls are serialized: llama.cpp gets the machine's
/// cores to itself, and one thread each, because its spinning thread pool is very slow on a busy machine.
/// </summary>
public static class LlamaCppRuntime
{
    public const string Version = "3.21.1";
    public const string SkipVariable = "NIRVANA_SKIP_LLAMACPP";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string InstallRoot => Environment.GetEnvironmentVariable("NIRVANA_NODE_LLAMA_CPP") is { Length: > 0 } root
        ? root
        : Path.Combine(NpmPackageCache.CacheRoot, "node-llama-cpp");

    private static string Entry => Path.Combine(InstallRoot, "node_modules", "node-llama-cpp", "dist", "index.js");

    public static string Script => Path.Combine(AppContext.BaseDirectory, "llamacpp", "llamacpp.mjs");

    /// <summary>Set only where a developer asked to skip (the variable) and this is not CI; CI must run these tests.</summary>
    public static string? SkipReason =>
        Environment.GetEnvironmentVariable(SkipVariable) is { Length: > 0 } && Environment.GetEnvironmentVariable("CI") != "true"
            ? $"llama.cpp parity tests skipped because {SkipVariable} is set (never in CI)"
            : null;

    /// <summary>Runs one job (see the script's header) and returns its JSON output.</summary>
    public static JsonElement Run(object job, int timeoutSeconds = 300)
    {
        Gate.Wait();
        try
        {
            EnsureInstalled();
            var jobFile = Path.Combine(Path.GetTempPath(), $"nirvana-llamacpp-{Guid.NewGuid():N}.json");
            File.WriteAllText(jobFile, JsonSerializer.Serialize(job));
            try
            {
                var (code, stdout, stderr) = Node([Script, jobFile], timeoutSeconds);
                if (code != 0) throw new InvalidOperationException($"llama.cpp job failed (exit {code}): {stderr}");
                var last = stdout.TrimEnd().Split('\n').Last();
                return JsonDocument.Parse(last).RootElement.Clone();
            }
            finally
            {
                File.Delete(jobFile);
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    private static void EnsureInstalled()
    {
        if (File.Exists(Entry)) return;
        Directory.CreateDirectory(InstallRoot);
        // Another test process may be installing too: npm holds its own lock on the folder's package files.
        var psi = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = InstallRoot };
        foreach (var a in new[] { "i", "-E", $"node-llama-cpp@{Version}", $"@node-llama-cpp/linux-x64@{Version}", "--omit=optional",
                     "--no-audit", "--no-fund", "--prefix", InstallRoot })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start");
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000)) p.Kill(entireProcessTree: true);
        if (!File.Exists(Entry))
            throw new InvalidOperationException($"installing node-llama-cpp@{Version} into {InstallRoot} failed (exit {p.ExitCode}): {errors.Result}{output.Result}");
    }

    private static (int Code, string Stdout, string Stderr) Node(string[] args, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NIRVANA_NODE_LLAMA_CPP"] = InstallRoot;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("node did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static double[][] LogProbs(JsonElement output) =>
        output.GetProperty("logprobs").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

    public static int[][] Tokens(JsonElement output) =>
        output.GetProperty("tokens").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
}

/// <summary>A fact that talks to llama.cpp; skipped only where <see cref="LlamaCppRuntime.SkipVariable"/> is set outside CI.</summary>
public sealed class LlamaCppFactAttribute : FactAttribute
{
    public LlamaCppFactAttribute()
    {
        if (LlamaCppRuntime.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>Theory twin of <see cref="LlamaCppFactAttribute"/>.</summary>
public sealed class LlamaCppTheoryAttribute : TheoryAttribute
{
    public LlamaCppTheoryAttribute()
    {
        if (LlamaCppRuntime.SkipReason is { } reason) Skip = reason;
    }
}
