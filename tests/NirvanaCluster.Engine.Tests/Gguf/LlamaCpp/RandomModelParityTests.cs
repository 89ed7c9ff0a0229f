using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Gguf;
using NirvanaCluster.Engine.Tests.Checkpoints;
using NirvanaCluster.Engine.Tokenizers;
using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

/// <summary>
/// The GGUF export against llama.cpp itself: random non-uniform pruned checkpoints of every layout the project
/// reads (GQA, explicit head_dim, llama3 rope, Qwen2 biases, Llama attention_bias, tied and separate heads) with
/// each vocabulary, exported and run by llama.cpp, and compared with the project's engine position by position.
/// </summary>
[Collection("llama.cpp")]
public sealed class RandomModelParityTests(ITestOutputHelper output)
{
    /// <summary>Texts whose ids both tokenizers must agree on: spaces, newlines, digits, punctuation, accents, CJK, emoji.</summary>
    public static readonly string[] Texts =
    [
        "Once upon a time, there was a little girl named Lily.",
        "The quick brown fox jumps over the lazy dog 1234567 times; 3.14159!",
        "  two leading spaces, trailing space ",
        "line one\nline two\n\n\tindented\r\nwindows",
        "naïve café — Ünïcödé 日本語のテキスト 🦙🚀",
        "don't you're I'll they've we'd",
        "function f(x) { return x * 2; } // code",
        "a",
    ];

    public static TheoryData<string> CaseNames => new(RandomModels.Cases.Select(c => c.Name));

    [LlamaCppTheory]
    [MemberData(nameof(CaseNames))]
    public void F32_export_gives_the_engines_log_probabilities_and_token_ids(string name)
    {
        var c = RandomModels.Named(name);
        using var temp = new TempDirectory();
        var dir = RandomModels.Write(c, Path.Combine(temp.Path, "model"));
        var gguf = Path.Combine(temp.Path, "model.gguf");
        GgufExporter.Export(dir, gguf, new GgufExportOptions { DType = GgufDType.F32 });

        var tokenizer = TokenizerLoader.Load(dir);
        var sequences = Sequences(tokenizer);
        var llama = LlamaCppRuntime.Run(new { model = gguf, sequences, texts = Texts });

        var expectedIds = Texts.Select(t => tokenizer.Encode(t, addBos: false)).ToArray();
        var actualIds = LlamaCppRuntime.Tokens(llama);
        for (var i = 0; i < Texts.Length; i++)
            Assert.True(expectedIds[i].SequenceEqual(actualIds[i]),
                $"{name}: text {i} {Texts[i]}: project [{string.Join(",", expectedIds[i])}] vs llama.cpp [{string.Join(",", actualIds[i])}]");

        var engine = EngineLogProbs.Of(ShardLoader.LoadAll(dir), sequences);
        var diff = EngineLogProbs.MaxAbsDifference(engine, LlamaCppRuntime.LogProbs(llama));
        output.WriteLine($"{name}: max |Δ log p| = {diff:E2} over {sequences.Sum(s => s.Length - 1)} positions; " +
                         $"engine perplexity {EngineLogProbs.Perplexity(engine):F3}");
        Assert.True(diff <= 1e-3, $"{name}: max |Δ log p| = {diff} > 1e-3");
    }

    public static TheoryData<string, string> SixteenBitCases => new()
    {
        // The two 32k vocabularies keep these fast; the 128k/152k ones are covered at F32 above (and measured at
        // BF16 1.7e-2 / F16 1.8e-3 when this list held them).
        { "llama2-mha-attention-bias", "f16" },
        { "mistral-gqa-tied", "bf16" },
    };

    [LlamaCppTheory]
    [MemberData(nameof(SixteenBitCases))]
    public void Sixteen_bit_export_matches_the_engine_on_the_same_rounded_weights(string name, string dtype)
    {
        var c = RandomModels.Named(name);
        var ggufType = GgufDTypes.Parse(dtype);
        using var temp = new TempDirectory();
        // The checkpoint itself is stored at 16 bits, so the engine computes with exactly the GGUF's weights.
        var dir = RandomModels.Write(c, Path.Combine(temp.Path, "model"), ggufType == GgufDType.F16 ? DType.F16 : DType.BF16);
        var gguf = Path.Combine(temp.Path, "model.gguf");
        GgufExporter.Export(dir, gguf, new GgufExportOptions { DType = ggufType });
        var header = GgufReader.Open(gguf);
        Assert.Equal(ggufType.WeightType(), header.Tensor("blk.0.attn_q.weight").Type);
        Assert.Equal(GgmlType.F32, header.Tensor("blk.0.attn_norm.weight").Type);

        var sequences = Sequences(TokenizerLoader.Load(dir));
        var llama = LlamaCppRuntime.LogProbs(LlamaCppRuntime.Run(new { model = gguf, sequences }));
        var diff = EngineLogProbs.MaxAbsDifference(EngineLogProbs.Of(ShardLoader.LoadAll(dir), sequences), llama);
        output.WriteLine($"{name} {dtype}: max |Δ log p| = {diff:E2}");
        Assert.True(diff <= 5e-2, $"{name} {dtype}: max |Δ log p| = {diff} > 5e-2");
    }

    /// <summary>The BOS the model expects, then each text's ids, cut to 24 tokens: two sequences per model.</summary>
    private static int[][] Sequences(ITokenizer tokenizer) =>
        new[] { Texts[0] + " " + Texts[1], Texts[4] + " " + Texts[3] }
            .Select(t => tokenizer.Encode(t, tokenizer.AddBosByDefault).Take(24).ToArray()).ToArray();
}
