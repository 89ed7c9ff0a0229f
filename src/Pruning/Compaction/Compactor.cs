using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Pruning.Plan;

namespace NirvanaCluster.Pruning.Compaction;

/// <summary>
/// Builds the genuinely smaller layer: rows of q/k/v (and biases) and columns of o_proj of removed KV groups go,
/// as do rows of gate/up and columns of down of removed neurons (NIRVANA.md section 4). Kept elements are copied
/// as stored (a BF16 weight stays BF16, bit for bit). <see cref="CompactTensors"/> produces the tensors one at a
/// time, so a stage never holds a compacted copy of more than the tensor being written.
/// </summary>
public static class Compactor
{
    public static LayerWeights Compact(LayerWeights w, LayerPlan plan)
    {
        var keep = Kept.Of(w, plan);
        return new LayerWeights(w.Index, w.Hidden, keep.Groups.Length * keep.GroupSize, keep.Groups.Length, w.HeadDim, keep.Neurons.Length,
            (float[])w.InputLayernorm.Clone(),
            w.QProj.SelectRows(keep.QRows), Select(w.QBias, keep.QRows),
            w.KProj.SelectRows(keep.KvRows), Select(w.KBias, keep.KvRows),
            w.VProj.SelectRows(keep.KvRows), Select(w.VBias, keep.KvRows),
            w.OProj.SelectColumns(keep.QRows), (float[]?)w.OBias?.Clone(),
            (float[])w.PostAttentionLayernorm.Clone(),
            w.GateProj.SelectRows(keep.Neurons), w.UpProj.SelectRows(keep.Neurons), w.DownProj.SelectColumns(keep.Neurons));
    }

    /// <summary>
    /// The compacted layer's tensors in checkpoint order, each with its name, shape and a producer that builds only
    /// that tensor from the held weights when called.
    /// </summary>
    public static IEnumerable<(string Name, long[] Shape, Func<WeightMatrix> Produce)> CompactTensors(LayerWeights w, LayerPlan plan)
    {
        var keep = Kept.Of(w, plan);
        var producers = new List<Func<WeightMatrix>>
        {
            () => Row((float[])w.InputLayernorm.Clone()),
            () => w.QProj.SelectRows(keep.QRows),
        };
        if (w.HasBias) producers.Add(() => Row(Select(w.QBias, keep.QRows)!));
        producers.Add(() => w.KProj.SelectRows(keep.KvRows));
        if (w.HasBias) producers.Add(() => Row(Select(w.KBias, keep.KvRows)!));
        producers.Add(() => w.VProj.SelectRows(keep.KvRows));
        if (w.HasBias) producers.Add(() => Row(Select(w.VBias, keep.KvRows)!));
        producers.Add(() => w.OProj.SelectColumns(keep.QRows));
        if (w.OBias is not null) producers.Add(() => Row((float[])w.OBias.Clone()));
        producers.Add(() => Row((float[])w.PostAttentionLayernorm.Clone()));
        producers.Add(() => w.GateProj.SelectRows(keep.Neurons));
        producers.Add(() => w.UpProj.SelectRows(keep.Neurons));
        producers.Add(() => w.DownProj.SelectColumns(keep.Neurons));
        var layout = TensorLayout.Layer(w.Index, w.Hidden, keep.Groups.Length * keep.GroupSize, keep.Groups.Length, w.HeadDim, keep.Neurons.Length,
            w.HasBias, w.OBias is not null).ToArray();
        if (layout.Length != producers.Count) throw new InvalidOperationException($"layer {w.Index}: {layout.Length} tensors in the layout, {producers.Count} produced");
        return layout.Zip(producers, (t, p) => (t.Name, t.Shape, p));
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

    private static WeightMatrix Row(float[] values) => WeightMatrix.Wrap(values, 1, values.Length);

    private static float[]? Select(float[]? values, int[] indices) => values is null ? null : indices.Select(i => values[i]).ToArray();

    /// <summary>The kept units of a layer as row / column indices: group gi owns G*Dh rows of q_proj and Dh rows of k/v_proj.</summary>
    private sealed record Kept(int[] Groups, int GroupSize, int[] QRows, int[] KvRows, int[] Neurons)
    {
        public static Kept Of(LayerWeights w, LayerPlan plan)
        {
            if (plan.Layer != w.Index) throw new ArgumentException($"plan for layer {plan.Layer} applied to layer {w.Index}");
            CheckIndices(plan.KeptKvGroups, w.KvHeads, $"layer {w.Index} kept_kv_groups");
            CheckIndices(plan.KeptMlpNeurons, w.Ffn, $"layer {w.Index} kept_mlp_neurons");
            int dh = w.HeadDim, g = w.Heads / w.KvHeads;
            var groups = plan.KeptKvGroups;
            var qRows = groups.SelectMany(src => Enumerable.Range(src * g * dh, g * dh)).ToArray();
            var kvRows = groups.SelectMany(src => Enumerable.Range(src * dh, dh)).ToArray();
            return new Kept(groups, g, qRows, kvRows, plan.KeptMlpNeurons);
        }
    }

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
