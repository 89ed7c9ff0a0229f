using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Pruning.Tests;

public static class PruningFixtures
{
    public static LlamaConfig Config(int layers = 3) => new LlamaConfig
    {
        HiddenSize = 32,
        NumHiddenLayers = layers,
        NumAttentionHeads = 8,
        NumKeyValueHeads = 4,
        IntermediateSize = 48,
        VocabSize = 40,
    }.Validated("test");

    public static int[][] Sequences(int count, int length, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    /// <summary>Cuts a whole-model shard into stages at the given layer boundaries (sharing the arrays).</summary>
    public static LlamaShard[] Split(LlamaShard whole, params int[] boundaries)
    {
        var edges = new[] { 0 }.Concat(boundaries).Append(whole.Config.NumHiddenLayers).ToArray();
        return Enumerable.Range(0, edges.Length - 1).Select(i => new LlamaShard(whole.Config, edges[i],
            whole.Layers.Skip(edges[i]).Take(edges[i + 1] - edges[i]).ToArray(),
            i == 0 ? whole.EmbedTokens : null,
            i == edges.Length - 2 ? whole.FinalNorm : null,
            i == edges.Length - 2 ? whole.LmHead : null)).ToArray();
    }

    public static LocalStage[] Stages(params LlamaShard[] shards) =>
        shards.Select((s, i) => new LocalStage($"local-{i}", new ShardWorker(s))).ToArray();

    /// <summary>Stages with the given schedule each (one schedule for all when a single one is given).</summary>
    public static LocalStage[] Stages(StageSchedule[] schedules, params LlamaShard[] shards) =>
        shards.Select((s, i) => new LocalStage($"local-{i}", new ShardWorker(s, schedules[schedules.Length == 1 ? 0 : i]))).ToArray();
}
