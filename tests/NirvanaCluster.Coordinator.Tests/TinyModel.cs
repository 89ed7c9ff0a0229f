using System.Text.Json;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Coordinator.Tests;

/// <summary>A small random checkpoint on disk, with a calibration token file beside it.</summary>
public sealed class TinyModel : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("nirvana-cli-").FullName;
    public string ModelDir => Path.Combine(Root, "model");
    public string Tokens => Path.Combine(Root, "calibration.json");
    public LlamaConfig Config { get; }

    public TinyModel(int layers = 3, int seed = 1, Func<LlamaConfig, LlamaConfig>? adjust = null, DType dtype = DType.F32)
    {
        Config = new LlamaConfig
        {
            HiddenSize = 32, NumHiddenLayers = layers, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = 64,
            VocabSize = 50, BosTokenId = 1, EosTokenId = 2, MaxPositionEmbeddings = 64,
        };
        if (adjust is not null) Config = adjust(Config);
        var shard = RandomWeights.Create(Config, seed, std: 0.1f);
        CheckpointWriter.Write(ModelDir, Config, shard.Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)),
            new CheckpointWriteOptions { DType = dtype });
        var rng = new Random(seed);
        var rows = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, 16).Select(_ => rng.Next(Config.VocabSize)).ToArray()).ToArray();
        File.WriteAllText(Tokens, JsonSerializer.Serialize(rows));
    }

    public string PathIn(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
