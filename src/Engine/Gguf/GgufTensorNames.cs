namespace NirvanaCluster.Engine.Gguf;

/// <summary>
/// Hugging Face tensor names to llama.cpp's (gguf-py's <c>TensorNameMap</c> for the llama/deci families):
/// embed_tokens → token_embd, layers.{i}.self_attn.q_proj → blk.{i}.attn_q, mlp.down_proj → blk.{i}.ffn_down, ...
/// </summary>
public static class GgufTensorNames
{
    public const string RopeFreqs = "rope_freqs.weight";

    private static readonly Dictionary<string, string> LayerParts = new(StringComparer.Ordinal)
    {
        ["input_layernorm.weight"] = "attn_norm.weight",
        ["self_attn.q_proj.weight"] = "attn_q.weight",
        ["self_attn.q_proj.bias"] = "attn_q.bias",
        ["self_attn.k_proj.weight"] = "attn_k.weight",
        ["self_attn.k_proj.bias"] = "attn_k.bias",
        ["self_attn.v_proj.weight"] = "attn_v.weight",
        ["self_attn.v_proj.bias"] = "attn_v.bias",
        ["self_attn.o_proj.weight"] = "attn_output.weight",
        ["self_attn.o_proj.bias"] = "attn_output.bias",
        ["post_attention_layernorm.weight"] = "ffn_norm.weight",
        ["mlp.gate_proj.weight"] = "ffn_gate.weight",
        ["mlp.up_proj.weight"] = "ffn_up.weight",
        ["mlp.down_proj.weight"] = "ffn_down.weight",
    };

    public static string FromHuggingFace(string name)
    {
        switch (name)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        const string prefix = "model.layers.";
        if (name.StartsWith(prefix, StringComparison.Ordinal))
        {
            var dot = name.IndexOf('.', prefix.Length);
            if (dot > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out var layer) &&
                LayerParts.TryGetValue(name[(dot + 1)..], out var part))
                return $"blk.{layer}.{part}";
        }
        throw new ArgumentException($"tensor '{name}' has no llama.cpp name");
    }
}
