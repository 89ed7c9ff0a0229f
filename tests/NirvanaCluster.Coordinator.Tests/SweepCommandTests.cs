using System.Text.Json;
using NirvanaCluster.Engine.Checkpoints;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests;

/// <summary>`prune` with several sparsities, gamma candidates, saved scores: run as a user runs them.</summary>
public class SweepCommandTests(ITestOutputHelper output)
{
    private static readonly string[] ModelFiles = ["model.safetensors", "config.json", "scores.safetensors"];

    [Fact]
    public void A_sweep_writes_one_model_per_sparsity_each_identical_to_a_separate_prune()
    {
        using var tiny = new TinyModel();
        var held = HeldOut(tiny);
        var dir = tiny.PathIn("sweep");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.2", "0.4", "--gamma", "1",
            "--selection-tokens", held, "--output", dir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        output.WriteLine(r.Stdout);
        foreach (var f in new[] { "sweep.json", "report.md", "quality-vs-size.svg", "quality-vs-size.png" }) Assert.True(File.Exists(Path.Combine(dir, f)), $"{f} missing");
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(dir, "quality-vs-size.svg")));
        Assert.DoesNotContain(Directory.GetDirectories(tiny.Root).Select(Path.GetFileName), n => n!.StartsWith('.')); // no staging left behind

        using var sweep = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "sweep.json")));
        var models = sweep.RootElement.GetProperty("models").EnumerateArray().ToArray();
        Assert.Equal([0.2, 0.4], models.Select(m => m.GetProperty("sparsity").GetDouble()));
        Assert.Equal(["s0.20", "s0.40"], models.Select(m => m.GetProperty("path").GetString()));
        Assert.False(sweep.RootElement.TryGetProperty("gamma_candidates", out _));
        Assert.Equal(held, sweep.RootElement.GetProperty("held_out").GetProperty("file").GetString());
        foreach (var m in models)
        {
            var sparsity = m.GetProperty("sparsity").GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var single = tiny.PathIn($"single-{sparsity}");
            var s = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", sparsity, "--gamma", "1", "--output", single);
            Assert.True(s.ExitCode == 0, s.Stderr);
            var folder = Path.Combine(dir, m.GetProperty("path").GetString()!);
            foreach (var f in ModelFiles)
                Assert.True(File.ReadAllBytes(Path.Combine(single, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(folder, f))), $"{f} of sparsity {sparsity} differs");
            using var pruned = Checkpoint.Open(folder);
            Assert.Equal(m.GetProperty("parameters").GetInt64(), Engine.Model.ParameterCounts.Of(pruned.Config));

            // The KL the sweep measured with masks is the compacted model's, measured by `evaluate`.
            var e = CliRunner.Run("evaluate", "--model", folder, "--reference", tiny.ModelDir, "--tokens", held, "--json");
            Assert.True(e.ExitCode == 0, e.Stderr);
            using var ev = JsonDocument.Parse(e.LastLine);
            var dataset = ev.RootElement.GetProperty("datasets")[0];
            output.WriteLine($"sparsity {sparsity}: KL masked {m.GetProperty("kl").GetDouble():G9}, compacted {dataset.GetProperty("kl").GetDouble():G9}; " +
                             $"PPL {m.GetProperty("perplexity").GetDouble():G9} vs {dataset.GetProperty("perplexity").GetDouble():G9}");
            Assert.Equal(dataset.GetProperty("kl").GetDouble(), m.GetProperty("kl").GetDouble(), 1e-5);
            Assert.Equal(1, m.GetProperty("perplexity").GetDouble() / dataset.GetProperty("perplexity").GetDouble(), 1e-5);
        }
    }

    [Fact]
    public void Gamma_candidates_are_chosen_by_the_lowest_held_out_kl_and_the_report_says_so()
    {
        using var tiny = new TinyModel(layers: 2, adjust: c => c with { IntermediateSize = 96 });
        var dir = tiny.PathIn("auto");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "16",
            "--sparsity", "0.3", "0.5", "--gamma", "0.5", "1", "3", "--output", dir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var sweep = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "sweep.json")));
        var held = sweep.RootElement.GetProperty("held_out");
        Assert.Equal(4242, held.GetProperty("seed").GetInt32());
        Assert.Equal(128, held.GetProperty("sequences").GetInt32());
        Assert.Equal(16, held.GetProperty("positions").GetInt32()); // min(64, --seq-len)
        var candidates = sweep.RootElement.GetProperty("gamma_candidates").EnumerateArray()
            .Select(c => (Sparsity: c.GetProperty("sparsity").GetDouble(), Gamma: c.GetProperty("gamma").GetDouble(), Kl: c.GetProperty("kl").GetDouble(),
                Chosen: c.GetProperty("chosen").GetBoolean())).ToArray();
        Assert.Equal(6, candidates.Length);
        var report = File.ReadAllText(Path.Combine(dir, "report.md"));
        output.WriteLine(report);
        foreach (var m in sweep.RootElement.GetProperty("models").EnumerateArray())
        {
            var s = m.GetProperty("sparsity").GetDouble();
            var best = candidates.Where(c => c.Sparsity == s).MinBy(c => c.Kl);
            Assert.Equal(best.Gamma, m.GetProperty("gamma").GetDouble());
            Assert.Equal(best.Kl, m.GetProperty("kl").GetDouble());
            Assert.Single(candidates, c => c.Sparsity == s && c.Chosen);
            Assert.Contains($"sparsity {s:0.###}: **gamma {best.Gamma:0.###} chosen**, the lowest KL", report);
        }
        Assert.True(candidates.Select(c => c.Kl).Distinct().Count() > 2, "the candidates should differ for the choice to mean anything");

        // The chosen model is the one a plain prune with that gamma writes.
        var chosen = sweep.RootElement.GetProperty("models")[1];
        var single = tiny.PathIn("single");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "16",
            "--sparsity", "0.5", "--gamma", chosen.GetProperty("gamma").GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture), "--output", single).ExitCode);
        foreach (var f in ModelFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(single, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(dir, "s0.50", f))), $"{f} differs");
    }

    [Fact]
    public void Saved_scores_replan_identically_without_calibration_and_are_refused_for_another_model_or_method()
    {
        using var tiny = new TinyModel();
        var first = tiny.PathIn("first");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--output", first).ExitCode);
        var scores = Path.Combine(first, "scores.safetensors");
        using (var file = SafeTensorsFile.Open(scores))
        {
            Assert.Equal("nirvana", file.Metadata["method"]);
            Assert.Equal(DType.F64, file.Tensors["model.layers.0.mlp_scores"].DType);
            Assert.Contains("calibration.json", file.Metadata["calibration"]);
        }
        var again = tiny.PathIn("again");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--scores", scores, "--sparsity", "0.4", "--output", again);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("no calibration pass", r.Stderr);
        foreach (var f in ModelFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(first, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(again, f))), $"{f} differs");
        using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "pruning-plan.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(again, "pruning-plan.json")));
        Assert.Equal(a.RootElement.GetProperty("layers").GetRawText(), b.RootElement.GetProperty("layers").GetRawText());

        // A sweep replans from the same file too.
        var sweep = CliRunner.Run("prune", "--model", tiny.ModelDir, "--scores", scores, "--sparsity", "0.2", "0.4", "--selection-tokens", HeldOut(tiny),
            "--output", tiny.PathIn("sweep"));
        Assert.True(sweep.ExitCode == 0, sweep.Stderr);
        Assert.True(File.ReadAllBytes(Path.Combine(first, "model.safetensors")).SequenceEqual(File.ReadAllBytes(tiny.PathIn("sweep/s0.40/model.safetensors"))));

        var method = CliRunner.Run("prune", "--model", tiny.ModelDir, "--scores", scores, "--sparsity", "0.4", "--method", "taylor-loss", "--output", tiny.PathIn("x"));
        Assert.NotEqual(0, method.ExitCode);
        Assert.Contains("holds nirvana scores, but --method is taylor-loss", method.Stderr);
        using var other = new TinyModel(seed: 2);
        var model = CliRunner.Run("prune", "--model", other.ModelDir, "--scores", scores, "--sparsity", "0.4", "--output", tiny.PathIn("y"));
        Assert.NotEqual(0, model.ExitCode);
        Assert.Contains("was computed for another model", model.Stderr);
        Assert.False(Directory.Exists(tiny.PathIn("x")) || Directory.Exists(tiny.PathIn("y")));
    }

    [Fact]
    public void Criteria_that_need_no_data_need_no_calibration_and_bad_sweep_input_is_refused()
    {
        using var tiny = new TinyModel(layers: 2);
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--method", "magnitude", "--sparsity", "0.3", "--output", tiny.PathIn("m"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var nirvana = CliRunner.Run("prune", "--model", tiny.ModelDir, "--sparsity", "0.3", "--output", tiny.PathIn("n"));
        Assert.NotEqual(0, nirvana.ExitCode);
        Assert.Contains("--calibration is required for method nirvana", nirvana.Stderr);
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--gamma", "3,36"], "--gamma: '3,36' has a comma"),
            (["--gamma", "auto", "2"], "'auto' stands alone"),
            (["--sparsity", "0.2", "0.2"], "--sparsity lists a value twice"),
            (["--sparsity", "0.2", "1.2"], "--sparsity must lie strictly between 0 and 1"),
            (["--sparsity", "0.2", "0.3", "--calibration", tiny.Tokens], "no held-out set can be drawn"),
        })
        {
            var bad = CliRunner.Run(["prune", "--model", tiny.ModelDir, "--output", tiny.PathIn("bad"), .. args.Contains("--sparsity") ? args : [.. args, "--sparsity", "0.3"],
                .. args.Contains("--calibration") ? [] : new[] { "--calibration", tiny.Tokens }]);
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains(expected, bad.Stderr);
            Assert.False(Directory.Exists(tiny.PathIn("bad")));
        }
        var help = CliRunner.Run("prune", "--help");
        Assert.Contains("1 1.5 2 2.5 3 3.36 4 5 6", help.Stdout.ReplaceLineEndings(" ").Replace("  ", " "));
    }

    [Fact]
    public void The_default_model_passed_by_its_path_gets_the_default_calibration()
    {
        var model = Engine.Assets.DefaultModel.Ensure();
        var root = Directory.CreateTempSubdirectory("nirvana-default-").FullName;
        try
        {
            var r = CliRunner.Run("prune", "--model", model, "--sparsity", "0.2", "--samples", "2", "--seq-len", "8", "--output", Path.Combine(root, "p"));
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "p", "pruning-plan.json")));
            Assert.Contains("generated by the dense model", plan.RootElement.GetProperty("calibration").GetString());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>A held-out token file apart from the calibration file (another seed).</summary>
    private static string HeldOut(TinyModel tiny)
    {
        var path = tiny.PathIn("held-out.json");
        var rng = new Random(77);
        File.WriteAllText(path, JsonSerializer.Serialize(Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray()).ToArray()));
        return path;
    }
}
