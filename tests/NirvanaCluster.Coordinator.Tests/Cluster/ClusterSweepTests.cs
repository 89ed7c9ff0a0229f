using System.Text.Json;
using Xunit.Abstractions;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// What used to need the whole model in the coordinator now runs through the nodes, with the in-process bytes: a
/// sweep (masked held-out evaluation through the stages), calibration sampled by the model itself ('generated',
/// token by token with per-stage caches), and the KL-guided calibration search with its candidates side by side on
/// node groups.
/// </summary>
[Collection(ClusterProcesses.Name)]
public class ClusterSweepTests(ITestOutputHelper output)
{
    [Fact]
    public void A_sweep_through_nodes_writes_the_in_process_sweep_s_models_and_choices()
    {
        using var tiny = new TinyModel(layers: 3);
        var rng = new Random(77);
        var heldOut = tiny.PathIn("held-out.json");
        File.WriteAllText(heldOut, JsonSerializer.Serialize(Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.Next(tiny.Config.VocabSize)).ToArray())));
        string[] Sweep(string dir) => ["prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "0.5", "--gamma", "1", "3",
            "--selection-tokens", heldOut, "--micro-batch", "2", "--output", dir];
        var local = CliRunner.Run(Sweep(tiny.PathIn("local")));
        Assert.True(local.ExitCode == 0, local.Stderr);
        var nodes = CliRunner.Run([.. Sweep(tiny.PathIn("nodes")), "--nodes", "2"]);
        output.WriteLine(nodes.Stderr);
        Assert.True(nodes.ExitCode == 0, nodes.Stderr);
        foreach (var model in new[] { "s0.30", "s0.50" })
            ClusterPruneTests.AssertSameModel(Path.Combine(tiny.PathIn("local"), model), Path.Combine(tiny.PathIn("nodes"), model));
        Assert.Equal(Candidates(tiny.PathIn("local")), Candidates(tiny.PathIn("nodes")));
    }

    [Fact]
    public void Generated_calibration_is_sampled_through_the_nodes_and_prunes_as_in_process()
    {
        using var tiny = new TinyModel(layers: 3);
        string[] Prune(string dir) => ["prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "6", "--seq-len", "12",
            "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--seed", "5", "--output", dir];
        Assert.Equal(0, CliRunner.Run(Prune(tiny.PathIn("local"))).ExitCode);
        var nodes = CliRunner.Run([.. Prune(tiny.PathIn("nodes")), "--nodes", "3"]);
        output.WriteLine(nodes.Stderr);
        Assert.True(nodes.ExitCode == 0, nodes.Stderr);
        Assert.Contains("through its stages", nodes.Stderr);
        ClusterPruneTests.AssertSameModel(tiny.PathIn("local"), tiny.PathIn("nodes"));
    }

    [Fact]
    public void The_calibration_search_runs_its_candidates_side_by_side_and_chooses_and_writes_as_in_process()
    {
        using var tiny = new TinyModel(layers: 3);
        string[] Search(string dir) => ["prune", "--model", tiny.ModelDir, "--calibration", "generated", "--samples", "4", "--seq-len", "12",
            "--sparsity", "0.4", "--gamma", "1", "--micro-batch", "2", "--calibration-seeds", "1", "2", "3", "--output", dir];
        Assert.Equal(0, CliRunner.Run(Search(tiny.PathIn("local"))).ExitCode);
        var nodes = CliRunner.Run([.. Search(tiny.PathIn("nodes")), "--nodes", "3"]);
        output.WriteLine(nodes.Stderr);
        Assert.True(nodes.ExitCode == 0, nodes.Stderr);
        Assert.Contains("3 pipelines side by side", nodes.Stderr);
        ClusterPruneTests.AssertSameModel(tiny.PathIn("local"), tiny.PathIn("nodes"));
        Assert.Equal(PlanField(tiny.PathIn("local"), "calibration_search"), PlanField(tiny.PathIn("nodes"), "calibration_search"));
        Assert.Equal(3, JsonDocument.Parse(PlanField(tiny.PathIn("nodes"), "calibration_search")).RootElement.GetArrayLength());
    }

    private static string Candidates(string sweep)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(sweep, "sweep.json")));
        return json.RootElement.GetProperty("gamma_candidates").GetRawText();
    }

    private static string PlanField(string model, string field)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(model, "pruning-plan.json")));
        return json.RootElement.GetProperty(field).GetRawText();
    }
}
