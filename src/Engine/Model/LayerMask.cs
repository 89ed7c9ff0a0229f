namespace NirvanaCluster.Engine.Model;

/// <summary>
/// Which units of one decoder layer take part in a masked forward: KeptKvGroups[Hkv] (a removed group silences its
/// G query heads' attention output, so its q/k/v rows and o_proj columns contribute nothing) and KeptNeurons[F] (a
/// removed neuron's silu(gate)*up is zero, so its down_proj column contributes nothing). The masked dense layer
/// computes what the compacted layer computes, without building it.
/// </summary>
public sealed record LayerMask(int Layer, bool[] KeptKvGroups, bool[] KeptNeurons)
{
    /// <summary>The mask that keeps exactly the listed units (ascending, 0-based indices into the dense layer).</summary>
    public static LayerMask Keeping(int layer, int kvGroups, int neurons, IReadOnlyList<int> keptGroups, IReadOnlyList<int> keptNeurons) =>
        new(layer, Flags(kvGroups, keptGroups, $"layer {layer} kept_kv_groups"), Flags(neurons, keptNeurons, $"layer {layer} kept_mlp_neurons"));

    public void CheckFits(LayerWeights w)
    {
        if (Layer != w.Index) throw new ArgumentException($"mask for layer {Layer} applied to layer {w.Index}");
        if (KeptKvGroups.Length != w.KvHeads || KeptNeurons.Length != w.Ffn)
            throw new ArgumentException($"mask for layer {Layer} covers {KeptKvGroups.Length} KV groups and {KeptNeurons.Length} neurons; the layer has {w.KvHeads} and {w.Ffn}");
    }

    private static bool[] Flags(int count, IReadOnlyList<int> kept, string what)
    {
        if (kept.Count == 0) throw new ArgumentException($"{what}: nothing kept");
        var flags = new bool[count];
        foreach (var i in kept)
        {
            if (i < 0 || i >= count) throw new ArgumentException($"{what}: index {i} outside [0, {count})");
            if (flags[i]) throw new ArgumentException($"{what}: index {i} listed twice");
            flags[i] = true;
        }
        return flags;
    }
}
