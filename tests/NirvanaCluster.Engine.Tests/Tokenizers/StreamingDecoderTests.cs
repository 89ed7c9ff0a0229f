using System.Text;
using NirvanaCluster.Engine.Tokenizers;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class StreamingDecoderTests(Llama3Fixture llama3, Llama2cFixture llama2c)
    : IClassFixture<Llama3Fixture>, IClassFixture<Llama2cFixture>
{
    private const string Text = "Once upon a time 🦙 met 镇 and Ꙋ, then said: \"héllo  wörld\"\n\tand 👩‍💻 left.";

    [Fact]
    public void Prints_the_whole_text_piece_by_piece_for_byte_level_bpe() => AssertStreams(llama3.Llama31);

    [Fact]
    public void Prints_the_whole_text_piece_by_piece_for_llama2c() => AssertStreams(llama2c.Tokenizer);

    [Fact]
    public void Holds_back_a_character_until_its_last_byte_arrives()
    {
        var tokenizer = llama3.Llama31;
        var decoder = new StreamingDecoder(tokenizer);
        Assert.Equal([9468, 99, 247], tokenizer.Encode("🦙", false)); // four UTF-8 bytes over three tokens
        Assert.Equal("", decoder.Push(9468));
        Assert.Equal("", decoder.Push(99));
        Assert.Equal("🦙", decoder.Push(247));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void Keeps_the_space_of_the_first_generated_token_after_a_prompt()
    {
        var tokenizer = llama2c.Tokenizer;
        var prompt = tokenizer.Encode("Once upon a time", addBos: true);
        var continuation = tokenizer.Encode("Once upon a time, there was", addBos: true)[prompt.Length..];
        var decoder = new StreamingDecoder(tokenizer, prompt);
        var printed = string.Concat(continuation.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(", there was", printed);
    }

    [Fact]
    public void Flushes_an_incomplete_character_as_a_replacement()
    {
        var decoder = new StreamingDecoder(llama3.Llama31);
        Assert.Equal("", decoder.Push(9468));
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    private static void AssertStreams(ITokenizer tokenizer)
    {
        var ids = tokenizer.Encode(Text, addBos: false);
        var decoder = new StreamingDecoder(tokenizer);
        var printed = new StringBuilder();
        var pieces = 0;
        foreach (var id in ids)
        {
            var piece = decoder.Push(id);
            Assert.DoesNotContain('\uFFFD', piece);
            if (piece.Length > 0) pieces++;
            printed.Append(piece);
        }
        printed.Append(decoder.Flush());
        Assert.Equal(Text, printed.ToString());
        Assert.True(pieces > ids.Length / 2, $"only {pieces} pieces for {ids.Length} tokens: text is not streamed");
    }
}
