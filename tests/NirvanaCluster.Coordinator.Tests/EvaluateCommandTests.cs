using System.Text.Json;

namespace NirvanaCluster.Coordinator.Tests;

[Collection(Cluster.ClusterProcesses.Name)]
public class EvaluateCommandTests
{
    [Fact]
    public void Evaluate_reports_perplexity_kl_and_zero_shot_accuracy_as_json()
    {
        using var tiny = new TinyModel();
        var output = tiny.PathIn("pruned");
        Assert.Equal(0, CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.5", "--gamma", "1", "--output", output).ExitCode);
        var r = CliRunner.Run("evaluate", "--model", output, "--reference", tiny.ModelDir, "--tokens", tiny.Tokens, "--generated", "4", "--seq-len", "12", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var json = JsonDocument.Parse(r.LastLine);
        var datasets = json.RootElement.GetProperty("datasets");
        Assert.Equal(2, datasets.GetArrayLength());
        foreach (var d in datasets.EnumerateArray())
        {
            Assert.True(d.GetProperty("kl").GetDouble() > 0);
            Assert.True(d.GetProperty("perplexity").GetDouble() > 1);
        }
        // The dense model against itself: zero KL, same perplexity.
        var self = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--reference", tiny.ModelDir, "--tokens", tiny.Tokens, "--json");
        using var selfJson = JsonDocument.Parse(self.LastLine);
        var first = selfJson.RootElement.GetProperty("datasets")[0];
        Assert.Equal(0, first.GetProperty("kl").GetDouble(), 6);
        Assert.Equal(first.GetProperty("reference_perplexity").GetDouble(), first.GetProperty("perplexity").GetDouble(), 6);
    }

    [Fact]
    public void Perplexity_through_node_processes_equals_the_in_process_one()
    {
        using var tiny = new TinyModel(layers: 3);
        var local = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tokens", tiny.Tokens, "--json");
        var nodes = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tokens", tiny.Tokens, "--json", "--nodes", "2");
        Assert.True(nodes.ExitCode == 0, nodes.Stderr);
        using var a = JsonDocument.Parse(local.LastLine);
        using var b = JsonDocument.Parse(nodes.LastLine);
        Assert.Equal(2, b.RootElement.GetProperty("nodes").GetInt32());
        Assert.Equal(a.RootElement.GetProperty("datasets")[0].GetProperty("perplexity").GetDouble(),
            b.RootElement.GetProperty("datasets")[0].GetProperty("perplexity").GetDouble(), 4);
    }

    [Fact]
    public void Malformed_task_file_names_the_line()
    {
        using var tiny = new TinyModel(layers: 1, adjust: c => c with { VocabSize = 32000 }); // room for llama2.c's 32000 tokens
        var tasks = tiny.PathIn("tasks.jsonl");
        File.WriteAllText(tasks, "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n{\"context\": \"a\", \"choices\": [\"b\"], \"gold\": 0}\n");
        File.Copy(Path.Combine(Engine.Assets.DefaultModel.Ensure(), "tokenizer.bin"), Path.Combine(tiny.ModelDir, "tokenizer.bin"));
        var r = CliRunner.Run("evaluate", "--model", tiny.ModelDir, "--tasks", tasks);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("tasks.jsonl:2", r.Stderr);
    }
}
