using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>
/// A SentencePiece-style BPE tokenizer.json rebuilt from a belladore.ai package's embedded vocabulary and merges,
/// in a model folder of its own and loaded through <see cref="TokenizerLoader"/>, plus that package's source.
/// Each is built once per test run and shared.
/// </summary>
public abstract class SentencePieceFixture
{
    protected SentencePieceFixture(string source, HfTokenizer tokenizer) => (Source, Tokenizer) = (source, tokenizer);

    public string Source { get; }
    public HfTokenizer Tokenizer { get; }

    /// <summary>Writes the rebuilt tokenizer.json into a folder of its own and loads it through the loader.</summary>
    protected static HfTokenizer Load(string source, string vocabConstant, string mergesConstant, bool metaspace)
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.json", TokenizerAssets.SentencePieceTokenizerJson(source, vocabConstant, mergesConstant, metaspace));
        return (HfTokenizer)TokenizerLoader.Load(folder.Path);
    }
}

/// <summary>Llama-2 in the original tokenizer.json layout: Prepend("▁") + Replace(" ", "▁") normalizer.</summary>
public sealed class Llama2SentencePieceFixture() : SentencePieceFixture(TokenizerAssets.Llama2TestSource, Shared.Value)
{
    private static readonly Lazy<HfTokenizer> Shared =
        new(() => Load(TokenizerAssets.Llama2TestSource, "llama_vocab_base64", "llama_merges_binary", metaspace: false));
}

/// <summary>Mistral in the newer layout: Metaspace pre-tokenizer with prepend_scheme "first".</summary>
public sealed class MistralSentencePieceFixture() : SentencePieceFixture(TokenizerAssets.MistralTestSource, Shared.Value)
{
    private static readonly Lazy<HfTokenizer> Shared =
        new(() => Load(TokenizerAssets.MistralTestSource, "vocab_base64", "merges_binary", metaspace: true));
}

/// <summary>Published vectors of llama-tokenizer-js@1.2.2 (<c>testCase</c>, <c>testDecodeOnly</c>).</summary>
public sealed class Llama2SentencePieceTests(Llama2SentencePieceFixture fixture) : IClassFixture<Llama2SentencePieceFixture>
{
    [Fact]
    public void Passes_every_published_vector() => SentencePieceVectors.CheckTestCases(fixture.Tokenizer, fixture.Source, expectedCases: 12);

    [Fact]
    public void Passes_the_published_decode_vectors_that_mean_what_Hugging_Face_decode_means()
    {
        // testDecodeOnly(ids, text, add_bos_token, add_preceding_space): with (false, true) it strips the
        // dummy-prefix space and keeps every token (HF Decode); with (false, false) it concatenates the tokens'
        // own texts (DecodeToken); the (true, ...) variants skip a leading BOS, which Decode of ids[1..] covers.
        var check = new VectorCheck();
        foreach (var args in JsLiterals.Calls(fixture.Source, "testDecodeOnly").Where(a => a[0] is JsArray))
        {
            var ids = args[0].AsInts();
            var (text, skipBos, stripSpace) = (args[1].AsString(), ((JsBool)args[2]).Value, ((JsBool)args[3]).Value);
            if (skipBos && ids[0] == 1 && stripSpace) check.Decode(fixture.Tokenizer, ids[1..], text);
            else if (!skipBos && stripSpace) check.Decode(fixture.Tokenizer, ids, text);
            else if (!skipBos && !stripSpace && ids[0] != 1)
                check.Equal(text, string.Concat(ids.Select(fixture.Tokenizer.DecodeToken)), $"DecodeToken concatenation of [{string.Join(",", ids)}]");
        }
        check.Equal("<s> grabbed", fixture.Tokenizer.Decode([1, 2646, 1327, 287]), "HF decode keeps <s> and the space after it");
        check.AssertAllPassed(minimumChecked: 4);
    }

    [Fact]
    public void Loads_bos_and_eos_from_the_template_and_token_names()
    {
        Assert.Equal(1, fixture.Tokenizer.BosTokenId);
        Assert.Equal(2, fixture.Tokenizer.EosTokenId);
        Assert.True(fixture.Tokenizer.AddBosByDefault);
        Assert.Equal(32000, fixture.Tokenizer.VocabSize);
    }

    [Fact]
    public void Falls_back_to_bytes_for_characters_outside_the_vocabulary()
    {
        // 🦙 is F0 9F A6 99; byte tokens are <0x00>..<0xFF> at ids 3..258.
        Assert.Equal([29871, 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3], fixture.Tokenizer.Encode("🦙", false));
        Assert.Equal("🦙", fixture.Tokenizer.Decode([29871, 243, 162, 169, 156]));
        Assert.Equal("\uFFFD\uFFFD", fixture.Tokenizer.Decode([243, 162])); // an incomplete character
    }
}

/// <summary>Published vectors of mistral-tokenizer-js@1.0.0 (<c>testCase</c>).</summary>
public sealed class MistralSentencePieceTests(MistralSentencePieceFixture fixture) : IClassFixture<MistralSentencePieceFixture>
{
    [Fact]
    public void Passes_every_published_vector() => SentencePieceVectors.CheckTestCases(fixture.Tokenizer, fixture.Source, expectedCases: 12);

    [Fact]
    public void Prepends_the_metaspace_only_at_the_start_of_the_text()
    {
        var tokenizer = fixture.Tokenizer;
        var grabbed = tokenizer.Encode("grabbed", false);
        Assert.Equal([13300], grabbed);
        // after a special token the text does not start the input, so "first" adds no "▁"
        var afterBos = tokenizer.Encode("<s>grabbed", false);
        Assert.Equal(1, afterBos[0]);
        Assert.NotEqual(grabbed, afterBos[1..]);
        Assert.Equal("grabbed", tokenizer.Decode(afterBos[1..]).TrimStart());
    }
}

internal static class SentencePieceVectors
{
    /// <summary><c>testCase(text, ids)</c>: encode with BOS gives ids; decode of ids after BOS gives text back.</summary>
    public static void CheckTestCases(ITokenizer tokenizer, string source, int expectedCases)
    {
        var check = new VectorCheck();
        var cases = JsLiterals.Calls(source, "testCase").Where(a => a[0] is JsString).ToList();
        check.Equal(expectedCases, cases.Count, "testCase vectors found");
        foreach (var args in cases)
        {
            var (text, ids) = (args[0].AsString(), args[1].AsInts());
            check.Encode(tokenizer, text, addBos: true, ids);
            check.Decode(tokenizer, ids[1..], text);
        }
        check.AssertAllPassed(minimumChecked: 1 + 2 * expectedCases);
    }
}
