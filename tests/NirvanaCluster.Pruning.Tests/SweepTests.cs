using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Sweep;

namespace NirvanaCluster.Pruning.Tests;

public class SweepTests
{
    [Fact]
    public void Scores_file_round_trips_bit_for_bit_and_refuses_another_model_method_or_shape()
    {
        var config = PruningFixtures.Config(layers: 2);
        var rng = new Random(1);
        var layers = Enumerable.Range(0, 2).Select(i => new LayerScores(i,
            Enumerable.Range(0, 4).Select(_ => rng.NextDouble() * 1e-3).ToArray(), Enumerable.Range(0, 48).Select(_ => rng.NextDouble() / 3).ToArray())).ToArray();
        var identity = new ModelIdentity(new string('a', 64), new string('b', 64));
        var set = new ScoreSet(layers, PruningMethod.TaylorLoss, 12, "8 x 16 tokens from c.json", identity, 0.123456789012345);
        var dir = Directory.CreateTempSubdirectory("nirvana-scores-").FullName;
        try
        {
            var path = Path.Combine(dir, ScoresFile.FileName);
            ScoresFile.Write(path, set);
            var back = ScoresFile.Read(path, config, identity, PruningMethod.TaylorLoss);
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(layers[i].Attention.Select(BitConverter.DoubleToInt64Bits), back.Layers[i].Attention.Select(BitConverter.DoubleToInt64Bits));
                Assert.Equal(layers[i].Mlp.Select(BitConverter.DoubleToInt64Bits), back.Layers[i].Mlp.Select(BitConverter.DoubleToInt64Bits));
            }
            Assert.Equal((12, "8 x 16 tokens from c.json", 0.123456789012345), (back.Seed, back.Calibration, back.Objective!.Value));
            // Written twice, the file is the same bytes (the metadata has a fixed order).
            var again = Path.Combine(dir, "again.safetensors");
            ScoresFile.Write(again, set);
            Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));

            Assert.Contains("holds taylor-loss scores, but --method is nirvana",
                Assert.Throws<ArgumentException>(() => ScoresFile.Read(path, config, identity, PruningMethod.Nirvana)).Message);
            Assert.Contains("computed for another model",
                Assert.Throws<ArgumentException>(() => ScoresFile.Read(path, config, identity with { WeightsSha256 = new string('c', 64) }, PruningMethod.TaylorLoss)).Message);
            Assert.Contains("expected F64 [96]",
                Assert.Throws<InvalidDataException>(() => ScoresFile.Read(path, config with { IntermediateSize = 96 }, identity, PruningMethod.TaylorLoss)).Message);
            var foreign = Path.Combine(dir, "model.safetensors");
            SafeTensorsWriter.Write(foreign, [new NamedTensor("x", [1], new float[] { 1 })]);
            Assert.Contains("no 'format' in its metadata", Assert.Throws<InvalidDataException>(() => ScoresFile.Read(foreign, config, identity, PruningMethod.TaylorLoss)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Plans_for_every_sparsity_and_gamma_equal_separate_allocations_and_the_lowest_kl_wins_with_ties_to_the_first()
    {
        var config = PruningFixtures.Config(layers: 3) with { IntermediateSize = 96 };
        var rng = new Random(4);
        var scores = Enumerable.Range(0, 3).Select(i => new LayerScores(i, Enumerable.Range(0, 4).Select(_ => rng.NextDouble()).ToArray(),
            Enumerable.Range(0, 96).Select(_ => rng.NextDouble()).ToArray())).ToArray();
        var set = new ScoreSet(scores, PruningMethod.Nirvana, 0, "x", new ModelIdentity("a", "b"));
        var options = new PruneOptions { Sparsity = 0.1 };
        var candidates = SweepPlanner.Plan(config, [set], [0.2, 0.5], [1, 3.36], options);
        Assert.Equal([(0.2, 1.0), (0.2, 3.36), (0.5, 1.0), (0.5, 3.36)], candidates.Select(c => (c.Sparsity, c.Gamma)));
        foreach (var c in candidates)
        {
            var alone = PruneJob.BuildPlan(config, scores, options with { Sparsity = c.Sparsity, Gamma = c.Gamma });
            Assert.Equal(alone.Layers.SelectMany(l => l.KeptMlpNeurons), c.Result.Plan.Layers.SelectMany(l => l.KeptMlpNeurons));
            Assert.Equal(alone.Layers.SelectMany(l => l.KeptKvGroups), c.Result.Plan.Layers.SelectMany(l => l.KeptKvGroups));
        }
        var kl = new[] { 0.5, 0.4, 0.9, 0.9 };
        var evaluated = candidates.Select((c, i) => c with { Quality = new VariantQuality(kl[i], 10, 1) }).ToArray();
        var chosen = SweepPlanner.Choose(evaluated, [0.2, 0.5]);
        Assert.Equal([3.36, 1.0], chosen.Select(c => c.Gamma));
        Assert.Equal([0, 1, 2, 3], SweepPlanner.FirstIdentical(candidates));
        Assert.Equal([0, 0], SweepPlanner.FirstIdentical([candidates[0], candidates[0] with { Gamma = 9 }]));
    }
}
