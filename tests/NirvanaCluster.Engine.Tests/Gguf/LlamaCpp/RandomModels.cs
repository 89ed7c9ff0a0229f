using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tests.Tokenizers;

namespace NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

/// <summary>The vocabularies the project reads, each from a published package.</summary>
public enum Vocabulary
{
    Llama3,      // byte-level BPE, llama.cpp pre-tokenizer "llama-bpe"
    Qwen25,      // byte-level BPE with NFC, "qwen2"
    Llama2,      // SentencePiece-style BPE tokenizer.json (Prepend + Replace normalizer)
    Mistral,     // SentencePiece-style BPE tokenizer.json (Metaspace, prepend_scheme first)
    Llama2c,     // llama2.c tokenizer.bin with SentencePiece scores
}

/// <summary>
/// Random non-uniform pruned checkpoints on disk, one per case: per-layer query heads, KV heads and MLP widths,
/// with a real tokenizer. Weights are seeded (std 0.1, so next-token distributions are peaked and a wrong
/// permutation or width shows), and can be stored at F16/BF16 to give the engine the very values a 16-bit GGUF holds.
/// </summary>
public static class RandomModels
{
    public sealed record Case(string Name, LlamaConfig Config, Vocabulary Vocabulary);

    public static readonly Case[] Cases =
    [
        // GQA (G = 4), explicit head_dim (H*Dh = 128 != D), llama3 rope scaling, separate lm_head.
        new("llama3-gqa-rope-scaling", new LlamaConfig
        {
            HiddenSize = 64, NumHiddenLayers = 3, NumAttentionHeads = 8, NumKeyValueHeads = 2, ExplicitHeadDim = 16,
            IntermediateSize = 128, VocabSize = 128256, RopeTheta = 500000,
            RopeScaling = new RopeScaling("llama3", 8, 1, 4, 32), MaxPositionEmbeddings = 256,
            BosTokenId = 128000, EosTokenId = 128001,
            LayerAttentionHeads = [8, 4, 4], LayerKeyValueHeads = [2, 1, 1], LayerIntermediateSizes = [128, 72, 40],
        }, Vocabulary.Llama3),
        // Qwen2: q/k/v biases, tied embedding, an embedding larger than the tokenizer (151936 rows, 151665 tokens).
        new("qwen2-bias-tied", new LlamaConfig
        {
            ModelType = "qwen2", HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 96, VocabSize = 151936, RopeTheta = 1000000, TieWordEmbeddings = true, AttentionBias = true,
            MaxPositionEmbeddings = 256, EosTokenId = 151643, RmsNormEps = 1e-6f,
            LayerAttentionHeads = [4, 2], LayerKeyValueHeads = [2, 1], LayerIntermediateSizes = [56, 96],
        }, Vocabulary.Qwen25),
        // Llama-2 vocabulary, MHA, Llama attention_bias (q/k/v and o_proj biases), separate lm_head.
        new("llama2-mha-attention-bias", new LlamaConfig
        {
            HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4, IntermediateSize = 96,
            VocabSize = 32000, AttentionBias = true, AttentionOutputBias = true, MaxPositionEmbeddings = 256,
            BosTokenId = 1, EosTokenId = 2,
            LayerAttentionHeads = [3, 1], LayerKeyValueHeads = [3, 1], LayerIntermediateSizes = [64, 24],
        }, Vocabulary.Llama2),
        // Mistral vocabulary and model type, GQA, tied embedding, one layer pruned to 8 neurons.
        new("mistral-gqa-tied", new LlamaConfig
        {
            ModelType = "mistral", HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 128, VocabSize = 32000, TieWordEmbeddings = true, MaxPositionEmbeddings = 256,
            BosTokenId = 1, EosTokenId = 2,
            LayerAttentionHeads = [2, 4], LayerKeyValueHeads = [1, 2], LayerIntermediateSizes = [8, 128],
        }, Vocabulary.Mistral),
        // llama2.c's tokenizer.bin (the default model's vocabulary) on a small dense model.
        new("llama2c-vocabulary-dense", new LlamaConfig
        {
            HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4, IntermediateSize = 96,
            VocabSize = 32000, MaxPositionEmbeddings = 256, BosTokenId = 1, EosTokenId = 2,
        }, Vocabulary.Llama2c),
    ];

    public static Case Named(string name) => Cases.Single(c => c.Name == name);

    /// <summary>Writes the case's checkpoint (weights stored as <paramref name="dtype"/>) with its tokenizer into <paramref name="dir"/>.</summary>
    public static string Write(Case c, string dir, DType dtype = DType.F32, int seed = 7)
    {
        var shard = RandomWeights.Create(c.Config, seed, std: 0.1f);
        // std 0.1 gives attention sharp enough to expose a wrong rotary layout; a smaller final norm brings the logits
        // to a language model's scale (std ~2 rather than ~8), where 16-bit rounding is judged fairly.
        foreach (ref var g in shard.FinalNorm.AsSpan()) g *= 0.25f;
        using var files = new TokenizerAssets.TempFolder();
        var tokenizer = TokenizerFile(c.Vocabulary, files);
        CheckpointWriter.Write(dir, c.Config, shard.Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)),
            new CheckpointWriteOptions { DType = dtype, ExtraFiles = [tokenizer] });
        return dir;
    }

    /// <summary>The vocabulary's tokenizer file, written into <paramref name="folder"/> under the name the loader looks for.</summary>
    public static string TokenizerFile(Vocabulary vocabulary, TokenizerAssets.TempFolder folder) => vocabulary switch
    {
        Vocabulary.Llama3 => Path.Combine(TokenizerAssets.Llama3Package, "models", "tokenizer.json"),
        Vocabulary.Qwen25 => Path.Combine(TokenizerAssets.Qwen25Package, "models", "tokenizer.json"),
        Vocabulary.Llama2 => folder.Write("tokenizer.json", TokenizerAssets.SentencePieceTokenizerJson(
            TokenizerAssets.Llama2TestSource, "llama_vocab_base64", "llama_merges_binary", metaspace: false)),
        Vocabulary.Mistral => folder.Write("tokenizer.json", TokenizerAssets.SentencePieceTokenizerJson(
            TokenizerAssets.MistralTestSource, "vocab_base64", "merges_binary", metaspace: true)),
        Vocabulary.Llama2c => folder.Write("tokenizer.bin", TokenizerAssets.Llama2cTokenizerBytes()),
        _ => throw new ArgumentOutOfRangeException(nameof(vocabulary)),
    };
}
