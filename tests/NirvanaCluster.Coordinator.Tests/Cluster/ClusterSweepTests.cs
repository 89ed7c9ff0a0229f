using System.Text.Json;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>A sweep with gamma candidates through node processes: the masked evaluation runs through the same pipeline, with the same answer.</summary>
public class ClusterSweepTests(ITestOutputHelper output)
{
    [Fact]
    public void Candidates_evaluated_through_nodes_score_and_choose_exactly_as_in_process()
    {
        using var tiny = new TinyModel(layers: 3);
        var held = tiny.PathIn("held-out.json");
        var rng = new Random(5);
        File.WriteAllText(held, JsonSerializer.Serialize(Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 10).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray()).ToArray()));
        string[] Args(string dir) => ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "0.5", "--gamma", "1", "2", "4",
            "--selection-tokens", held, "--micro-batch", "2", "--output", dir];
        var local = CliRunner.Run(Args(tiny.PathIn("local")));
        Assert.True(local.ExitCode == 0, local.Stderr);
        var nodes = CliRunner.Run([.. Args(tiny.PathIn("nodes")), "--nodes", "2"]);
        Assert.True(nodes.ExitCode == 0, nodes.Stderr);
        Assert.Equal(2, nodes.Stderr.Split('\n').Count(l => l.Contains("joined from")));
        using var a = JsonDocument.Parse(File.ReadAllText(tiny.PathIn("local/sweep.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(tiny.PathIn("nodes/sweep.json")));
        output.WriteLine(a.RootElement.GetProperty("gamma_candidates").GetRawText());
        Assert.Equal(a.RootElement.GetProperty("gamma_candidates").GetRawText(), b.RootElement.GetProperty("gamma_candidates").GetRawText());
        Assert.Equal(a.RootElement.GetProperty("models").GetRawText(), b.RootElement.GetProperty("models").GetRawText());
        Assert.Equal(a.RootElement.GetProperty("dense").GetRawText(), b.RootElement.GetProperty("dense").GetRawText());
        foreach (var m in a.RootElement.GetProperty("models").EnumerateArray())
        {
            var path = m.GetProperty("path").GetString()!;
            Assert.True(File.ReadAllBytes(tiny.PathIn($"local/{path}/model.safetensors")).SequenceEqual(File.ReadAllBytes(tiny.PathIn($"nodes/{path}/model.safetensors"))), path);
        }
    }
}
