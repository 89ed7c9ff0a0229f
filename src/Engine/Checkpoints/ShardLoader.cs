using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Loads the tensors of layers [first, end) (plus the embedding and/or final norm + lm_head when asked) from a
/// checkpoint, name for name with a shape check per tensor; nothing else in the files is read. Matrices are held at
/// the precision they are stored in (their bytes copied straight from the file) unless <c>holdAs</c> asks for F32;
/// norms and biases are always held as fp32.
/// </summary>
public static class ShardLoader
{
    public static LlamaShard Load(Checkpoint checkpoint, int firstLayer, int endLayer, bool embedding, bool head, DType? holdAs = null)
    {
        var config = checkpoint.Config;
        if (firstLayer < 0 || endLayer > config.NumHiddenLayers || firstLayer > endLayer)
            throw new ArgumentException($"layer range [{firstLayer}, {endLayer}) is outside the model's {config.NumHiddenLayers} layers");
        var layers = new List<LayerWeights>();
        for (var i = firstLayer; i < endLayer; i++) layers.Add(LoadLayer(checkpoint, i, holdAs));
        int v = config.VocabSize, d = config.HiddenSize;
        WeightMatrix? embed = null, lmHead = null;
        float[]? norm = null;
        if (embedding || (head && config.TieWordEmbeddings && !checkpoint.Contains("lm_head.weight")))
            embed = checkpoint.ReadWeight("model.embed_tokens.weight", v, d, holdAs);
        if (head)
        {
            norm = checkpoint.ReadFloat32("model.norm.weight", d);
            // Tied models share the embedding; some tied checkpoints still carry a copy named lm_head.
            lmHead = config.TieWordEmbeddings && !checkpoint.Contains("lm_head.weight") ? embed : checkpoint.ReadWeight("lm_head.weight", v, d, holdAs);
        }
        return new LlamaShard(config, firstLayer, layers, embedding ? embed : null, norm, lmHead);
    }

    /// <summary>The whole model in one shard.</summary>
    public static LlamaShard LoadAll(Checkpoint checkpoint, DType? holdAs = null) =>
        Load(checkpoint, 0, checkpoint.Config.NumHiddenLayers, embedding: true, head: true, holdAs);

    public static LlamaShard LoadAll(string directory, DType? holdAs = null)
    {
        using var checkpoint = Checkpoint.Open(directory);
        return LoadAll(checkpoint, holdAs);
    }

    private static LayerWeights LoadLayer(Checkpoint checkpoint, int index, DType? holdAs)
    {
        var c = checkpoint.Config;
        int d = c.HiddenSize, q = c.HeadsOf(index) * c.HeadDim, kv = c.KvHeadsOf(index) * c.HeadDim, f = c.FfnOf(index);
        var p = $"model.layers.{index}.";
        float[] Vector(string name, int length) => checkpoint.ReadFloat32(p + name, length);
        WeightMatrix Matrix(string name, int rows, int cols) => checkpoint.ReadWeight(p + name, rows, cols, holdAs);
        return new LayerWeights(index, d, c.HeadsOf(index), c.KvHeadsOf(index), c.HeadDim, f,
            Vector("input_layernorm.weight", d),
            Matrix("self_attn.q_proj.weight", q, d), c.AttentionBias ? Vector("self_attn.q_proj.bias", q) : null,
            Matrix("self_attn.k_proj.weight", kv, d), c.AttentionBias ? Vector("self_attn.k_proj.bias", kv) : null,
            Matrix("self_attn.v_proj.weight", kv, d), c.AttentionBias ? Vector("self_attn.v_proj.bias", kv) : null,
            Matrix("self_attn.o_proj.weight", d, q), c.AttentionOutputBias ? Vector("self_attn.o_proj.bias", d) : null,
            Vector("post_attention_layernorm.weight", d),
            Matrix("mlp.gate_proj.weight", f, d), Matrix("mlp.up_proj.weight", f, d), Matrix("mlp.down_proj.weight", d, f));
    }
}
