using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Coordinator.Tests;

/// <summary>--memory budgets, the schedule they choose, refusals up front, and --dry-run plans from config.json alone.</summary>
public partial class MemoryCommandTests
{
    // Llama-3.1-8B's and Llama-3.1-70B's published config.json (meta-llama on Hugging Face), verbatim values.
    private const string Llama31_8B = """
        {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,"eos_token_id":128001,
         "hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,"max_position_embeddings":131072,
         "mlp_bias":false,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"pretraining_tp":1,
         "rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,
         "rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.0.dev0",
         "use_cache":true,"vocab_size":128256}
        """;

    private const string Llama31_70B = """
        {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,"eos_token_id":128001,
         "hidden_act":"silu","hidden_size":8192,"initializer_range":0.02,"intermediate_size":28672,"max_position_embeddings":131072,
         "mlp_bias":false,"model_type":"llama","num_attention_heads":64,"num_hidden_layers":80,"num_key_value_heads":8,"pretraining_tp":1,
         "rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,
         "rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.0.dev0",
         "use_cache":true,"vocab_size":128256}
        """;

    private const double Gi = 1L << 30;

    [Fact]
    public void Dry_run_plans_llama_31_8b_in_one_process_from_config_json_alone()
    {
        using var dir = new ConfigOnly(Llama31_8B);
        var fits = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--memory", "24Gi");
        Assert.True(fits.ExitCode == 0, fits.Stdout + fits.Stderr);
        // The published parameter count, and bytes that no plan can go below: BF16 weights; for all-layers also an
        // fp32 gradient of every layer parameter (32 layers of 218,112,000 + 2 x 4,096 norms).
        Assert.Contains("8,030,261,248 parameters", fits.Stdout);
        Assert.Contains("matrices held at 2 bytes (bfloat16)", fits.Stdout);
        var row = Rows(fits.Stdout).Single();
        Assert.Equal(("[0, 32)", "embedding + head", "layer-bounded"), (row.Layers, row.Holds, row.Schedule));
        Assert.True(row.AllLayers * Gi > 2.0 * 8_030_261_248 + 4.0 * 32 * (218_103_808 + 8_192), $"all-layers {row.AllLayers} GiB");
        Assert.True(row.Bounded * Gi > 2.0 * 8_030_261_248, $"layer-bounded {row.Bounded} GiB");
        Assert.True(row.AllLayers > 24 && row.Bounded <= 24, $"{row.AllLayers} / {row.Bounded}");
        Assert.Contains("fits: 1 of 1 stage(s) run the layer-bounded schedule", fits.Stdout);

        // 24G is 24 * 10^9 bytes, 24Gi is 24 * 2^30: said in the placement line.
        var decimalUnits = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--memory", "24G");
        Assert.Contains("budget 22.35 GiB (--memory)", decimalUnits.Stdout);

        var small = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--memory", "8Gi");
        Assert.Equal(3, small.ExitCode);
        Assert.Contains("does not fit", small.Stdout);
        Assert.Matches(@"in one process it needs --memory [0-9.]+Gi \(layer-bounded\)", small.Stdout);
        Assert.Matches(@"or [0-9]+ nodes of 8\.00 GiB", small.Stdout);
    }

    [Fact]
    public void Dry_run_plans_llama_31_70b_on_a_cluster_that_does_not_exist_and_says_what_would_fit()
    {
        using var dir = new ConfigOnly(Llama31_70B);
        var eight = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--plan-nodes", "8x64Gi");
        Assert.True(eight.ExitCode == 0, eight.Stdout + eight.Stderr);
        Assert.Contains("70,553,706,496 parameters", eight.Stdout);
        var rows = Rows(eight.Stdout);
        Assert.Equal(8, rows.Count);
        Assert.Equal("embedding", rows[0].Holds);
        Assert.Equal("head", rows[^1].Holds);
        var ranges = rows.Select(r => Regex.Match(r.Layers, @"\[(\d+), (\d+)\)")).Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value))).ToArray();
        Assert.Equal(0, ranges[0].Item1);
        Assert.Equal(80, ranges[^1].Item2);
        for (var i = 1; i < ranges.Length; i++) Assert.Equal(ranges[i - 1].Item2, ranges[i].Item1);
        Assert.All(rows, r => Assert.True((r.Schedule == "all-layers" ? r.AllLayers : r.Bounded) <= 64, $"{r.Layers}: {r.AllLayers} / {r.Bounded}"));
        // The weights alone (BF16) are 131 GiB: no stage can plan less than its share.
        Assert.True(rows.Sum(r => r.Bounded) * Gi > 2.0 * 70_553_706_496);

        var two = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--plan-nodes", "64Gi", "64Gi");
        Assert.Equal(3, two.ExitCode);
        Assert.Contains("the model does not fit: 2 node(s) offer 64.00 GiB + 64.00 GiB", two.Stdout);
        Assert.Matches(@"or (\d+) nodes of 64\.00 GiB", two.Stdout);

        // Forced to all-layers, four 64 GiB nodes are not enough, and the bounded schedule is named as what would fit.
        var forced = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--plan-nodes", "4x64Gi", "--schedule", "all-layers");
        Assert.Equal(3, forced.ExitCode);
        Assert.Contains("with --schedule layer-bounded (or auto) it would fit", forced.Stdout);
        Assert.Equal(4, Rows(forced.Stdout).Count);

        var wrong = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--plan-nodes", "8x64Gi", "--output", Path.Combine(dir.Path, "x"));
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("--plan-nodes", wrong.Stderr);
        var unit = CliRunner.Run("prune", "--model", dir.Path, "--sparsity", "0.2", "--dry-run", "--plan-nodes", "8x64Q");
        Assert.NotEqual(0, unit.ExitCode);
        Assert.Contains("powers of 1024", unit.Stderr);
    }

    [Fact]
    public void A_memory_budget_between_the_two_needs_runs_layer_bounded_with_the_same_bytes_and_too_small_is_refused()
    {
        using var tiny = new TinyModel(layers: 6, adjust: c => c with { HiddenSize = 256, IntermediateSize = 1024, NumAttentionHeads = 4, NumKeyValueHeads = 2, VocabSize = 1000 });
        var need = StageMemoryModel.Need(tiny.Config, new StageExtent(0, 6, true, true, 4), new PassShape(4, 16, 8));
        Assert.True(need.AllLayersBytes - need.LayerBoundedBytes > (4L << 20), $"{need.AllLayersBytes:N0} vs {need.LayerBoundedBytes:N0}");
        string[] Args(string output) => ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.4", "--gamma", "1", "--output", output];

        var reference = tiny.PathIn("default");
        var r = CliRunner.Run(Args(reference));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("schedule all-layers", r.Stderr);

        var between = (need.AllLayersBytes + need.LayerBoundedBytes) / 2;
        var bounded = tiny.PathIn("bounded");
        var b = CliRunner.Run([.. Args(bounded), "--memory", between.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(b.ExitCode == 0, b.Stderr);
        Assert.Contains("schedule layer-bounded", b.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "model.safetensors")), File.ReadAllBytes(Path.Combine(bounded, "model.safetensors")));
        Assert.Equal(Layers(reference), Layers(bounded));
        var report = File.ReadAllText(Path.Combine(bounded, "report.md"));
        Assert.Contains("## Memory per stage", report);
        Assert.Matches(@"\| in-process \| \[0, 6\) \| layer-bounded \| [0-9.]+ MiB \| [0-9.]+ MiB \|", report);
        Assert.Matches(@"Stage in-process memory: schedule layer-bounded, planned [0-9,]+ bytes, peak RSS [0-9,]+ bytes", b.Stderr);

        var refused = CliRunner.Run([.. Args(tiny.PathIn("refused")), "--memory", "50Mi"]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--memory 50.0 MiB is below what this job needs in one process: at least", refused.Stderr);
        Assert.Contains($"({need.LayerBoundedBytes:N0} bytes)", refused.Stderr);
        Assert.False(Directory.Exists(tiny.PathIn("refused")));

        var forced = CliRunner.Run([.. Args(tiny.PathIn("forced")), "--memory", between.ToString(CultureInfo.InvariantCulture), "--schedule", "all-layers"]);
        Assert.NotEqual(0, forced.ExitCode);
        Assert.Contains("with the all-layers schedule", forced.Stderr);
    }

    [Fact]
    public void Evaluate_refuses_a_budget_below_what_the_models_need()
    {
        using var tiny = new TinyModel(layers: 2);
        var r = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tokens", tiny.Tokens, "--memory", "10Mi");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--memory 10.0 MiB is below what this evaluation needs", r.Stderr);
        var ok = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tokens", tiny.Tokens, "--memory", "2Gi", "--json");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        var nodes = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tokens", tiny.Tokens, "--memory", "2Gi", "--nodes", "1");
        Assert.NotEqual(0, nodes.ExitCode);
        Assert.Contains("nirvana-node --memory", nodes.Stderr);
    }

    private sealed record Row(string Layers, string Holds, double AllLayers, double Bounded, double Budget, string Schedule);

    /// <summary>The stage table of a dry run: "0  [0, 32)  embedding + head  44.73Gi  18.58Gi  24.00Gi  layer-bounded".</summary>
    private static List<Row> Rows(string stdout) =>
        TableRow().Matches(stdout).Select(m => new Row(m.Groups["layers"].Value, m.Groups["holds"].Value.Trim(),
            double.Parse(m.Groups["all"].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups["bounded"].Value, CultureInfo.InvariantCulture),
            double.Parse(m.Groups["budget"].Value, CultureInfo.InvariantCulture), m.Groups["schedule"].Value)).ToList();

    [GeneratedRegex(@"^\d+\s+(?<layers>\[\d+, \d+\))\s+(?<holds>[a-z +-]+?)\s+(?<all>[0-9.]+)Gi\s+(?<bounded>[0-9.]+)Gi\s+(?<budget>[0-9.]+)Gi\s+(?<schedule>all-layers|layer-bounded)\s*$", RegexOptions.Multiline)]
    private static partial Regex TableRow();

    private static string Layers(string model)
    {
        using var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "pruning-plan.json")));
        return plan.RootElement.GetProperty("layers").GetRawText();
    }

    /// <summary>A model folder holding nothing but config.json: what --dry-run is allowed to read.</summary>
    private sealed class ConfigOnly : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("nirvana-config-").FullName;

        public ConfigOnly(string json) => File.WriteAllText(System.IO.Path.Combine(Path, "config.json"), json);

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
