using System.Text.Json;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Coordinator.Tests;

public class PruneCommandTests
{
    [Fact]
    public void Prune_writes_a_loadable_smaller_model_with_plan_report_and_chart()
    {
        using var tiny = new TinyModel();
        var output = tiny.PathIn("pruned");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--output", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        foreach (var f in new[] { "config.json", "model.safetensors", "pruning-plan.json", "report.md", "kept-fraction.svg" })
            Assert.True(File.Exists(Path.Combine(output, f)), $"{f} missing");
        using var pruned = Checkpoint.Open(output);
        Assert.True(pruned.Config.IsPruned);
        using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "pruning-plan.json")));
        var layers = plan.RootElement.GetProperty("layers");
        Assert.Equal(3, layers.GetArrayLength());
        for (var i = 0; i < 3; i++)
        {
            var kept = layers[i].GetProperty("kept_mlp_neurons").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(kept.Order(), kept);
            Assert.Equal(pruned.Config.FfnOf(i), kept.Length);
            Assert.Equal(pruned.Config.KvHeadsOf(i), layers[i].GetProperty("kept_kv_groups").GetArrayLength());
        }
        Assert.True(plan.RootElement.GetProperty("parameters_after").GetInt64() < plan.RootElement.GetProperty("parameters_before").GetInt64());
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(output, "kept-fraction.svg")));

        var ppl = CliRunner.Run("perplexity", "--model", output, "--tokens", tiny.Tokens, "--json");
        Assert.True(ppl.ExitCode == 0, ppl.Stderr);
        using var json = JsonDocument.Parse(ppl.LastLine);
        Assert.True(json.RootElement.GetProperty("perplexity").GetDouble() > 1);
        Assert.Equal(8 * 15, json.RootElement.GetProperty("tokens").GetInt64());
    }

    [Fact]
    public void Calibration_search_keeps_the_seed_whose_pruned_model_has_the_lowest_kl()
    {
        using var tiny = new TinyModel();
        var output = tiny.PathIn("searched");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "16",
            "--sparsity", "0.4", "--gamma", "1", "--calibration-seeds", "1", "2", "3", "--output", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "pruning-plan.json")));
        var candidates = plan.RootElement.GetProperty("calibration_search").EnumerateArray()
            .Select(c => (Seed: c.GetProperty("seed").GetInt32(), Kl: c.GetProperty("kl").GetDouble())).ToArray();
        Assert.Equal([1, 2, 3], candidates.Select(c => c.Seed));
        Assert.All(candidates, c => Assert.True(c.Kl > 0));
        Assert.Equal(candidates.MinBy(c => c.Kl).Seed, plan.RootElement.GetProperty("seed").GetInt32());

        // The chosen seed's plan is exactly what a plain prune with that seed produces.
        var direct = tiny.PathIn("direct");
        var chosen = plan.RootElement.GetProperty("seed").GetInt32().ToString();
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "16",
            "--sparsity", "0.4", "--gamma", "1", "--seed", chosen, "--output", direct).ExitCode);
        Assert.Equal(File.ReadAllBytes(Path.Combine(direct, "model.safetensors")), File.ReadAllBytes(Path.Combine(output, "model.safetensors")));

        var refused = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4",
            "--calibration-seeds", "1", "2", "--output", tiny.PathIn("refused"));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("token file is used as given", refused.Stderr);
    }

    [Fact]
    public void Calibration_search_uses_the_held_out_set_it_is_given_and_its_kl_is_the_compacted_model_s()
    {
        using var tiny = new TinyModel();
        var held = tiny.PathIn("held-out.json");
        var rng = new Random(7);
        File.WriteAllText(held, JsonSerializer.Serialize(Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray())));
        string[] Search(string dir, params string[] more) => ["prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "16",
            "--sparsity", "0.4", "--gamma", "1", "--calibration-seeds", "1", "2", "--output", dir, .. more];

        var output = tiny.PathIn("searched");
        var r = CliRunner.Run(Search(output, "--selection-tokens", held));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("held-out set: 5 x 12 tokens from held-out.json", r.Stderr);
        using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "pruning-plan.json")));
        var chosen = plan.RootElement.GetProperty("seed").GetInt32();
        var kl = plan.RootElement.GetProperty("calibration_search").EnumerateArray().Single(c => c.GetProperty("seed").GetInt32() == chosen).GetProperty("kl").GetDouble();
        // The KL the search measured with masks is what `evaluate` measures on the written, compacted model.
        var e = CliRunner.Run("evaluate", "--model", output, "--reference", tiny.ModelDir, "--tokens", held, "--json");
        Assert.True(e.ExitCode == 0, e.Stderr);
        using var ev = JsonDocument.Parse(e.LastLine);
        Assert.Equal(ev.RootElement.GetProperty("datasets")[0].GetProperty("kl").GetDouble(), kl, 1e-5);

        var drawn = CliRunner.Run(Search(tiny.PathIn("drawn"), "--selection-samples", "3"));
        Assert.True(drawn.ExitCode == 0, drawn.Stderr);
        Assert.Contains("held-out set: 3 x 16 tokens generated by the dense model (seed 4242)", drawn.Stderr);
    }

    [Fact]
    public void An_existing_output_is_refused_unless_forced()
    {
        using var tiny = new TinyModel(layers: 2);
        var output = tiny.PathIn("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", output);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("already exists", r.Stderr);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));
        // --force replaces only nirvana's own output or an empty folder: this one is the user's (see OutputSafetyTests).
        var forced = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", output, "--force");
        Assert.Equal(2, forced.ExitCode);
        Assert.Contains("was not written by nirvana", forced.Stderr);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));
    }

    [Theory]
    [InlineData("--sparsity", "0", "--sparsity")]
    [InlineData("--sparsity", "1", "--sparsity")]
    [InlineData("--sparsity", "1.5", "--sparsity")]
    [InlineData("--gamma", "0", "--gamma")]
    [InlineData("--gamma", "-2", "--gamma")]
    [InlineData("--method", "obs", "unknown method 'obs'")]
    [InlineData("--allocation", "weird", "--allocation")]
    [InlineData("--seq-len", "64", "shorter than --seq-len")]
    public void Bad_input_is_a_clear_error_and_writes_nothing(string flag, string value, string expected)
    {
        // llama2.c's tokenizer (used below) has 32000 tokens: the model's vocabulary must hold them all.
        using var tiny = new TinyModel(layers: 2, adjust: c => c with { VocabSize = 32000 });
        var text = tiny.PathIn("calibration.txt");
        File.WriteAllText(text, "a short text");
        var args = new List<string> { "prune", "--model", tiny.ModelDir, "--output", tiny.PathIn("out") };
        if (flag != "--sparsity") args.AddRange(["--sparsity", "0.3"]);
        if (flag == "--seq-len")
        {
            // Needs a tokenizer: give the tiny model llama2.c's, via the default model's folder.
            File.Copy(Path.Combine(Engine.Assets.DefaultModel.Ensure(), "tokenizer.bin"), Path.Combine(tiny.ModelDir, "tokenizer.bin"));
            args.AddRange(["--calibration", text]);
        }
        else args.AddRange(["--calibration", tiny.Tokens]);
        args.AddRange([flag, value]);
        var r = CliRunner.Run(args.ToArray());
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.StartsWith("nirvana: error:", r.Stderr.Split('\n').First(l => l.StartsWith("nirvana", StringComparison.Ordinal)));
        Assert.False(Directory.Exists(tiny.PathIn("out")));
        Assert.Equal(["model"], Directory.GetDirectories(tiny.Root).Select(Path.GetFileName));
    }

    [Fact]
    public void Unsupported_architecture_is_refused_naming_the_field()
    {
        using var tiny = new TinyModel(layers: 2);
        var configPath = Path.Combine(tiny.ModelDir, "config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"llama\"", "\"gpt2\""));
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", tiny.PathIn("out"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("model_type", r.Stderr);
        Assert.False(Directory.Exists(tiny.PathIn("out")));
    }

    [Fact]
    public void Calibration_rows_of_unequal_length_are_refused()
    {
        using var tiny = new TinyModel(layers: 2);
        File.WriteAllText(tiny.Tokens, "[[1,2,3,4],[1,2,3]]");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "--output", tiny.PathIn("out"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("row 1 has 3 tokens", r.Stderr);
    }

    [Fact]
    public void Every_command_has_help()
    {
        foreach (var command in new[] { "prune", "evaluate", "perplexity", "generate", "tokenize" })
        {
            var r = CliRunner.Run(command, "--help");
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("--model", r.Stdout);
        }
        Assert.Contains("prune", CliRunner.Run("--help").Stdout);
    }
}

public class PruneOutputDTypeTests
{
    [Fact]
    public void A_bf16_checkpoint_prunes_to_bf16_with_the_kept_rows_copied_bit_for_bit()
    {
        using var tiny = new TinyModel(dtype: DType.BF16);
        var output = tiny.PathIn("pruned-bf16");
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--output", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var source = Checkpoint.Open(tiny.ModelDir);
        using var pruned = Checkpoint.Open(output);
        Assert.Equal(DType.BF16, pruned.WeightDType);
        Assert.All(pruned.TensorNames, n => Assert.Equal(DType.BF16, pruned.Info(n).DType));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal("bfloat16", config.RootElement.GetProperty("torch_dtype").GetString());

        // Each kept gate_proj row is the source's row, byte for byte; unpruned tensors are copied whole.
        using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "pruning-plan.json")));
        var d = tiny.Config.HiddenSize;
        var src = Bytes(source, "model.layers.1.mlp.gate_proj.weight");
        var dst = Bytes(pruned, "model.layers.1.mlp.gate_proj.weight");
        var kept = plan.RootElement.GetProperty("layers")[1].GetProperty("kept_mlp_neurons").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        for (var i = 0; i < kept.Length; i++)
            Assert.True(src.AsSpan(kept[i] * d * 2, d * 2).SequenceEqual(dst.AsSpan(i * d * 2, d * 2)), $"row {kept[i]}");
        Assert.Equal(Bytes(source, "model.embed_tokens.weight"), Bytes(pruned, "model.embed_tokens.weight"));

        // --dtype still overrides: F32 output holds exactly the BF16 values widened.
        var wide = tiny.PathIn("pruned-f32");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1",
            "--dtype", "f32", "--output", wide).ExitCode);
        using var widened = Checkpoint.Open(wide);
        Assert.Equal(DType.F32, widened.WeightDType);
        foreach (var name in pruned.TensorNames)
            Assert.Equal(pruned.ReadFloat32(name), widened.ReadFloat32(name));
    }

    private static byte[] Bytes(Checkpoint checkpoint, string tensor)
    {
        using var file = SafeTensorsFile.Open(checkpoint.FileOf(tensor));
        var bytes = new byte[file.Info(tensor).ByteLength];
        file.ReadBytes(tensor, bytes);
        return bytes;
    }
}
