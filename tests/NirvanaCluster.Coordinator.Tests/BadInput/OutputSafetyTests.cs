using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Coordinator.Tests.BadInput;

/// <summary>
/// Class 1 of the bad-input sweep (data loss): no output may equal, contain or lie inside an input, and --force
/// replaces only nirvana's own output or an empty folder. Each case checks that nothing of the user's was touched.
/// </summary>
public class OutputSafetyTests
{
    /// <summary>Every file under a folder with its bytes, to prove a refused command changed nothing.</summary>
    private static Dictionary<string, byte[]> Snapshot(string root) =>
        Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .ToDictionary(f => Path.GetRelativePath(root, f), File.ReadAllBytes); // links are not followed: the test makes some to ancestors

    private static void AssertUnchanged(Dictionary<string, byte[]> before, string root)
    {
        var after = Snapshot(root);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"{name} changed");
    }

    public static TheoryData<string, string> ForcedOutputsThatTouchTheModel => new()
    {
        // case name, --output relative to the test root ("model" is the input model folder)
        { "the parent folder of the model", "." },
        { "the parent through ..", "model/../." },
        { "the model folder itself", "model" },
        { "the model folder through ..", "model/../model" },
        { "a symlink to the model", "link-to-model" },
        { "a symlink to the model's parent", "link-to-root" },
        { "a folder inside the model", "model/pruned" },
        { "a file inside the model", "model/config.json" },
        { "inside the model through a linked parent", "link-to-root/model/out" },
    };

    [Theory]
    [MemberData(nameof(ForcedOutputsThatTouchTheModel))]
    public void Prune_force_never_writes_over_into_or_around_the_model(string name, string output)
    {
        using var tiny = new TinyModel(layers: 2);
        Directory.CreateSymbolicLink(tiny.PathIn("link-to-model"), tiny.ModelDir);
        Directory.CreateSymbolicLink(tiny.PathIn("link-to-root"), tiny.Root);
        File.WriteAllText(tiny.PathIn("beside.txt"), "a file of the user's beside the model");
        var before = Snapshot(tiny.Root);

        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3",
            "--output", Path.Combine(tiny.Root, output), "--force");

        Assert.True(r.ExitCode == 2, $"{name}: exit {r.ExitCode}; {r.Stderr}");
        Assert.Contains("nirvana: error: --output", r.Stderr);
        Assert.Matches("is the input|contains the input|lies inside the input", r.Stderr);
        AssertUnchanged(before, tiny.Root);
        Assert.Empty(Directory.GetDirectories(tiny.ModelDir));
    }

    [Fact]
    public void Prune_output_equal_to_the_calibration_file_is_refused()
    {
        using var tiny = new TinyModel(layers: 2);
        var before = Snapshot(tiny.Root);
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", tiny.Tokens, "--force");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is the input", r.Stderr);
        AssertUnchanged(before, tiny.Root);
    }

    [Fact]
    public void Force_refuses_a_non_empty_folder_nirvana_did_not_write_and_replaces_its_own_or_an_empty_one()
    {
        using var tiny = new TinyModel(layers: 2);
        var users = tiny.PathIn("users-folder");
        Directory.CreateDirectory(users);
        File.WriteAllText(Path.Combine(users, "thesis.tex"), "years of work");
        var prune = (string output, bool force) => CliRunner.Run([
            "prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", output, .. force ? new[] { "--force" } : []]);

        var refused = prune(users, true);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("was not written by nirvana", refused.Stderr);
        Assert.Equal("years of work", File.ReadAllText(Path.Combine(users, "thesis.tex")));
        Assert.Equal(["thesis.tex"], Directory.GetFileSystemEntries(users).Select(Path.GetFileName));

        var empty = tiny.PathIn("empty");
        Directory.CreateDirectory(empty);
        Assert.Contains("already exists", prune(empty, false).Stderr);
        var intoEmpty = prune(empty, true);
        Assert.True(intoEmpty.ExitCode == 0, intoEmpty.Stderr);
        Assert.True(File.Exists(Path.Combine(empty, OutputGuard.MarkerFileName)));

        // A folder nirvana wrote is its own: refused without --force, replaced with it.
        var again = prune(empty, false);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already exists", again.Stderr);
        var replaced = prune(empty, true);
        Assert.True(replaced.ExitCode == 0, replaced.Stderr);
        using (var pruned = Checkpoint.Open(empty)) Assert.True(pruned.Config.IsPruned);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(tiny.Root), e => Path.GetFileName(e).Contains(".partial-") || Path.GetFileName(e).Contains(".old-"));
    }

    [Fact]
    public void Sample_refuses_existing_files_and_never_replaces_one_that_is_not_a_token_file()
    {
        using var tiny = new TinyModel(layers: 1);
        var before = Snapshot(tiny.ModelDir);
        var sample = (string output, bool force) => CliRunner.Run([
            "sample", "--model", tiny.ModelDir, "--samples", "2", "--seq-len", "4", "--output", output, .. force ? new[] { "--force" } : []]);

        // The model's own config.json, with and without --force.
        foreach (var force in new[] { false, true })
        {
            var r = sample(Path.Combine(tiny.ModelDir, "config.json"), force);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("lies inside the input", r.Stderr);
        }
        AssertUnchanged(before, tiny.ModelDir);

        var notes = tiny.PathIn("notes.txt");
        File.WriteAllText(notes, "not tokens");
        Assert.Contains("already exists; pass --force", sample(notes, false).Stderr);
        var forcedOverNotes = sample(notes, true);
        Assert.Equal(2, forcedOverNotes.ExitCode);
        Assert.Contains("is not a JSON token file", forcedOverNotes.Stderr);
        Assert.Equal("not tokens", File.ReadAllText(notes));

        var tokens = tiny.PathIn("held-out.json");
        Assert.Equal(0, sample(tokens, false).ExitCode);
        Assert.Contains("already exists", sample(tokens, false).Stderr);
        var first = File.ReadAllText(tokens);
        File.WriteAllText(tokens, "[[1, 2]]");
        Assert.Equal(0, sample(tokens, true).ExitCode);
        Assert.Equal(first, File.ReadAllText(tokens)); // same seed: the same samples, written over a token file
        Assert.DoesNotContain(Directory.GetFiles(tiny.Root), f => Path.GetFileName(f).Contains(".partial"));
    }
}
