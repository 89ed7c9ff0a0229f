using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Tests;

/// <summary>A whole model's logits for a batch: what the compaction and held-precision tests compare.</summary>
internal static class ShardLogits
{
    /// <summary>Embedding, every layer, final norm and lm_head over <paramref name="b"/> sequences of <paramref name="t"/> tokens.</summary>
    public static float[] Of(LlamaShard shard, int[] ids, int b, int t)
    {
        var x = new float[ids.Length * shard.Hidden];
        shard.Embed(x, ids);
        shard.ForwardLayers(x, b, t);
        var normed = new float[x.Length];
        shard.FinalNormForward(normed, default, x, ids.Length);
        var logits = new float[ids.Length * shard.Vocab];
        shard.Logits(logits, normed, ids.Length);
        return logits;
    }
}
