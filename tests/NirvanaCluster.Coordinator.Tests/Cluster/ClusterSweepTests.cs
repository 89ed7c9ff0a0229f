namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// A sweep's masked evaluation runs on in-process stages; until the stage operation is on the cluster pipeline, a
/// sweep with nodes is refused before any node starts, naming the flags.
/// </summary>
public class ClusterSweepTests
{
    [Fact]
    public void A_sweep_with_nodes_is_refused_up_front_with_nothing_written()
    {
        using var tiny = new TinyModel(layers: 3);
        var r = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.3", "0.5", "--gamma", "1",
            "--selection-tokens", tiny.Tokens, "--output", tiny.PathIn("nodes"), "--nodes", "2");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--nodes/--listen: a sweep's masked held-out evaluation runs in this process", r.Stderr);
        Assert.DoesNotContain("joined from", r.Stderr);
        Assert.False(Directory.Exists(tiny.PathIn("nodes")));
    }
}
