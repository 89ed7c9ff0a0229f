namespace NirvanaCluster.Engine.Model;

/// <summary>
/// The Hugging Face names and shapes of a model's tensors, in checkpoint order (embedding, layers, final norm,
/// lm_head unless tied), derived from the config alone: what a writer needs before any weight exists.
/// </summary>
public static class TensorLayout
{
    public static IEnumerable<(string Name, long[] Shape)> Model(LlamaConfig config)
    {
        long v = config.VocabSize, d = config.HiddenSize;
        yield return ("model.embed_tokens.weight", [v, d]);
        for (var i = 0; i < config.NumHiddenLayers; i++)
            foreach (var t in Layer(i, d, config.HeadsOf(i), config.KvHeadsOf(i), config.HeadDim, config.FfnOf(i), config.AttentionBias, config.AttentionOutputBias))
                yield return t;
        yield return ("model.norm.weight", [d]);
        if (!config.TieWordEmbeddings) yield return ("lm_head.weight", [v, d]);
    }

    public static IEnumerable<(string Name, long[] Shape)> Layer(int index, long d, int heads, int kvHeads, int headDim, int ffn, bool bias, bool outputBias)
    {
        var p = $"model.layers.{index}.";
        long q = (long)heads * headDim, kv = (long)kvHeads * headDim, f = ffn;
        yield return (p + "input_layernorm.weight", [d]);
        yield return (p + "self_attn.q_proj.weight", [q, d]);
        if (bias) yield return (p + "self_attn.q_proj.bias", [q]);
        yield return (p + "self_attn.k_proj.weight", [kv, d]);
        if (bias) yield return (p + "self_attn.k_proj.bias", [kv]);
        yield return (p + "self_attn.v_proj.weight", [kv, d]);
        if (bias) yield return (p + "self_attn.v_proj.bias", [kv]);
        yield return (p + "self_attn.o_proj.weight", [d, q]);
        if (outputBias) yield return (p + "self_attn.o_proj.bias", [d]);
        yield return (p + "post_attention_layernorm.weight", [d]);
        yield return (p + "mlp.gate_proj.weight", [f, d]);
        yield return (p + "mlp.up_proj.weight", [f, d]);
        yield return (p + "mlp.down_proj.weight", [d, f]);
    }
}
