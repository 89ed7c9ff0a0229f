namespace NirvanaCluster.Engine.Model;

/// <summary>Parameter counts from a config alone (no weights needed).</summary>
public static class ParameterCounts
{
    /// <summary>All parameters: embedding, every layer, final norm, and lm_head unless tied.</summary>
    public static long Of(LlamaConfig c)
    {
        long d = c.HiddenSize, v = c.VocabSize;
        var total = v * d + d + (c.TieWordEmbeddings ? 0 : v * d);
        for (var i = 0; i < c.NumHiddenLayers; i++) total += Layer(c, i);
        return total;
    }

    /// <summary>The attention and MLP projection weights of every layer: what a pruning sparsity is a fraction of.</summary>
    public static long Projections(LlamaConfig c)
    {
        long total = 0;
        for (var i = 0; i < c.NumHiddenLayers; i++)
        {
            long d = c.HiddenSize, q = (long)c.HeadsOf(i) * c.HeadDim, kv = (long)c.KvHeadsOf(i) * c.HeadDim;
            total += 2 * d * q + 2 * d * kv + 3 * d * c.FfnOf(i);
        }
        return total;
    }

    public static long Layer(LlamaConfig c, int layer)
    {
        long d = c.HiddenSize, q = (long)c.HeadsOf(layer) * c.HeadDim, kv = (long)c.KvHeadsOf(layer) * c.HeadDim, f = c.FfnOf(layer);
        var attention = d * q + 2 * d * kv + q * d + (c.AttentionBias ? q + 2 * kv : 0) + (c.AttentionOutputBias ? d : 0);
        return attention + 3 * d * f + 2 * d;
    }
}
