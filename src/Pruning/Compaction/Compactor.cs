using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Pruning.Compaction;

/// <summary>
/// Builds the genuinely smaller layer: rows of q/k/v (and biases) and columns of o_proj of removed KV groups go,
/// as do rows of gate/up and columns of down of removed neurons (NIRVANA.md section 4).
/// </summary>
public static class Compactor
{
    public static LayerWeights Compact(LayerWeights w, LayerPlan plan)
    {
        if (plan.Layer != w.Index) throw new ArgumentException($"plan for layer {plan.Layer} applied to layer {w.Index}");
        CheckIndices(plan.KeptKvGroups, w.KvHeads, $"layer {w.Index} kept_kv_groups");
        CheckIndices(plan.KeptMlpNeurons, w.Ffn, $"layer {w.Index} kept_mlp_neurons");
        int d = w.Hidden, dh = w.HeadDim, g = w.Heads / w.KvHeads;
        var groups = plan.KeptKvGroups;
        var neurons = plan.KeptMlpNeurons;
        var result = new LayerWeights(w.Index, d, groups.Length * g, groups.Length, dh, neurons.Length, w.HasBias, w.OBias is not null);
        w.InputLayernorm.CopyTo(result.InputLayernorm, 0);
        w.PostAttentionLayernorm.CopyTo(result.PostAttentionLayernorm, 0);
        w.OBias?.CopyTo(result.OBias!, 0);

        // Row blocks: group gi owns G*Dh rows of q_proj and Dh rows of k_proj / v_proj.
        for (var i = 0; i < groups.Length; i++)
        {
            var src = groups[i];
            CopyRows(w.QProj, result.QProj, src * g * dh, i * g * dh, g * dh, d);
            CopyRows(w.KProj, result.KProj, src * dh, i * dh, dh, d);
            CopyRows(w.VProj, result.VProj, src * dh, i * dh, dh, d);
            if (w.HasBias)
            {
                Array.Copy(w.QBias!, src * g * dh, result.QBias!, i * g * dh, g * dh);
                Array.Copy(w.KBias!, src * dh, result.KBias!, i * dh, dh);
                Array.Copy(w.VBias!, src * dh, result.VBias!, i * dh, dh);
            }
        }
        int oldQ = w.Heads * dh, newQ = result.Heads * dh;
        for (var r = 0; r < d; r++)
            for (var i = 0; i < groups.Length; i++)
                Array.Copy(w.OProj, r * oldQ + groups[i] * g * dh, result.OProj, r * newQ + i * g * dh, g * dh);

        for (var i = 0; i < neurons.Length; i++)
        {
            CopyRows(w.GateProj, result.GateProj, neurons[i], i, 1, d);
            CopyRows(w.UpProj, result.UpProj, neurons[i], i, 1, d);
        }
        for (var r = 0; r < d; r++)
            for (var i = 0; i < neurons.Length; i++)
                result.DownProj[r * neurons.Length + i] = w.DownProj[r * w.Ffn + neurons[i]];
        return result;
    }

    /// <summary>A whole model compacted in memory (embedding, norm and head shared with the dense one).</summary>
    public static LlamaShard CompactModel(LlamaShard whole, IReadOnlyList<LayerPlan> layers)
    {
        if (!whole.HasEmbedding || !whole.HasHead || whole.FirstLayer != 0) throw new ArgumentException("CompactModel needs the whole model in one shard");
        var config = PrunedConfig(whole.Config, layers);
        return new LlamaShard(config, 0, whole.Layers.Select(l => Compact(l, layers[l.Index])).ToArray(), whole.EmbedTokens, whole.FinalNorm, whole.LmHead);
    }

    /// <summary>The pruned model's config: per-layer sizes in the authors' fields and ours.</summary>
    public static LlamaConfig PrunedConfig(LlamaConfig config, IReadOnlyList<LayerPlan> layers)
    {
        if (layers.Count != config.NumHiddenLayers) throw new ArgumentException($"plan has {layers.Count} layers, the model {config.NumHiddenLayers}");
        var g = config.GroupSize;
        return config with
        {
            LayerAttentionHeads = layers.Select(l => l.KeptKvGroups.Length * g).ToArray(),
            LayerKeyValueHeads = layers.Select(l => l.KeptKvGroups.Length).ToArray(),
            LayerIntermediateSizes = layers.Select(l => l.KeptMlpNeurons.Length).ToArray(),
        };
    }

    private static void CopyRows(float[] src, float[] dst, int srcRow, int dstRow, int rows, int width) =>
        Array.Copy(src, (long)srcRow * width, dst, (long)dstRow * width, (long)rows * width);

    private static void CheckIndices(int[] indices, int count, string what)
    {
        if (indices.Length == 0) throw new ArgumentException($"{what}: nothing kept");
        for (var i = 0; i < indices.Length; i++)
        {
            if (indices[i] < 0 || indices[i] >= count) throw new ArgumentException($"{what}: index {indices[i]} outside [0, {count})");
            if (i > 0 && indices[i] <= indices[i - 1]) throw new ArgumentException($"{what}: indices must ascend without repeats");
        }
    }
}
