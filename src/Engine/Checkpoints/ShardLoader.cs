using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Loads the tensors of layers [first, end) (plus the embedding and/or final norm + lm_head when asked) from a
/// checkpoint, name for name with a shape check per tensor; nothing else in the files is read.
/// </summary>
public static class ShardLoader
{
    public static LlamaShard Load(Checkpoint checkpoint, int firstLayer, int endLayer, bool embedding, bool head)
    {
        var config = checkpoint.Config;
        if (firstLayer < 0 || endLayer > config.NumHiddenLayers || firstLayer > endLayer)
            throw new ArgumentException($"layer range [{firstLayer}, {endLayer}) is outside the model's {config.NumHiddenLayers} layers");
        var layers = new List<LayerWeights>();
        for (var i = firstLayer; i < endLayer; i++)
        {
            var layer = LayerWeights.ForConfig(config, i);
            foreach (var (name, data, shape) in layer.Tensors())
                checkpoint.ReadFloat32(name, data, shape);
            layers.Add(layer);
        }
        long v = config.VocabSize, d = config.HiddenSize;
        float[]? embed = null, norm = null, lmHead = null;
        if (embedding || (head && config.TieWordEmbeddings && !checkpoint.Contains("lm_head.weight")))
            embed = checkpoint.ReadFloat32("model.embed_tokens.weight", v, d);
        if (head)
        {
            norm = checkpoint.ReadFloat32("model.norm.weight", d);
            // Tied models share the embedding; some tied checkpoints still carry a copy named lm_head.
            lmHead = config.TieWordEmbeddings && !checkpoint.Contains("lm_head.weight") ? embed : checkpoint.ReadFloat32("lm_head.weight", v, d);
        }
        return new LlamaShard(config, firstLayer, layers, embedding ? embed : null, norm, lmHead);
    }

    /// <summary>The whole model in one shard.</summary>
    public static LlamaShard LoadAll(Checkpoint checkpoint) => Load(checkpoint, 0, checkpoint.Config.NumHiddenLayers, embedding: true, head: true);

    public static LlamaShard LoadAll(string directory)
    {
        using var checkpoint = Checkpoint.Open(directory);
        return LoadAll(checkpoint);
    }
}
