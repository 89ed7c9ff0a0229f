using System.Globalization;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;
using NirvanaCluster.Engine.Tokenizers.Text;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class TextPatternTests
{
    private const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Digits carry no space prefix in this pattern: " 1234567" is " ", "123", "456", "7" (see the vector "25 to 30%").
    private static List<string> Pieces(string pattern, string text) =>
        new CodePointRegex(pattern).Matches(text).Select(m => text.Substring(m.Start, m.Length)).ToList();

    [Fact]
    public void Splits_like_the_Llama3_pattern_by_hand()
    {
        Assert.Equal(["Hello", ",", " world", "!!", " I", "'M", " ", "123", "456", "7", "  ", " x", "\n\n"], Pieces(Llama3Pattern, "Hello, world!! I'M 1234567   x\n\n"));
    }

    [Fact]
    public void Treats_a_supplementary_character_as_one_code_point()
    {
        // Oniguruma sees 🦙 as one non-letter: the optional prefix takes it and the letters follow in one piece.
        // A UTF-16 engine would see two surrogates and split "🦙" from "Spanish".
        Assert.Equal(["🦙Spanish"], Pieces(Llama3Pattern, "🦙Spanish"));
        Assert.Equal(["𝐀𝐁𝐂", " 𠀀"], Pieces(Llama3Pattern, "𝐀𝐁𝐂 𠀀")); // astral letters are \p{L}
        Assert.Equal(["𝟏𝟐𝟑", "𝟒"], Pieces(Llama3Pattern, "𝟏𝟐𝟑𝟒"));      // astral digits count one each in {1,3}
    }

    [Fact]
    public void Stand_ins_have_the_category_they_stand_for()
    {
        foreach (var category in Enum.GetValues<UnicodeCategory>())
            Assert.Equal(category, CharUnicodeInfo.GetUnicodeCategory(CodePointRegex.StandInFor(category)));
    }

    [Theory]
    [InlineData(@"a*+b", @"(?>a*)b")]
    [InlineData(@"\p{L}++|x", @"(?>\p{L}+)|x")]
    [InlineData(@"(ab)?+", @"(?>(ab)?)")]
    [InlineData(@"[^\s]{1,3}+", @"(?>[^\s]{1,3})")]
    [InlineData(@"(?i:'s|'t)", @"(?i:'s|'t)")]
    [InlineData(@"\s+(?!\S)", @"\s+(?!\S)")]
    [InlineData(@"\x{2581}+?", @"\u2581+?")]
    [InlineData(@"[\x{3000}-\x{303F}]", @"[\u3000-\u303F]")]
    public void Translates_Oniguruma_syntax(string oniguruma, string dotnet) =>
        Assert.Equal(dotnet, OnigurumaPattern.ToDotNet(oniguruma));

    [Theory]
    [InlineData(@"[a-z&&[^aeiou]]")]
    [InlineData(@"\h+")]
    [InlineData(@"(ab")]
    [InlineData(@"ab)")]
    public void Rejects_what_dotnet_would_read_differently(string oniguruma) =>
        Assert.Throws<ArgumentException>(() => OnigurumaPattern.ToDotNet(oniguruma));

    [Fact]
    public void Possessive_quantifiers_do_not_give_back()
    {
        // a++a can never match: the possessive run keeps every 'a'. Its backtracking twin a+a matches "aaa".
        Assert.Empty(Pieces("a++a", "aaa"));
        Assert.Equal(["aaa"], Pieces("a+a", "aaa"));
    }

    [Theory]
    [InlineData(SplitBehavior.Removed, new[] { "the", "final", "countdown" })]
    [InlineData(SplitBehavior.Isolated, new[] { "the", "-", "final", "-", "-", "countdown" })]
    [InlineData(SplitBehavior.MergedWithPrevious, new[] { "the-", "final-", "-", "countdown" })]
    [InlineData(SplitBehavior.MergedWithNext, new[] { "the", "-final", "-", "-countdown" })]
    [InlineData(SplitBehavior.Contiguous, new[] { "the", "-", "final", "--", "countdown" })]
    public void Split_behaviours_follow_the_Hugging_Face_documentation(SplitBehavior behavior, string[] expected)
    {
        // the example of tokenizers' SplitDelimiterBehavior docs: "the-final--countdown" split on "-"
        var split = new SplitPreTokenizer(TextPattern.Literal("-"), behavior, Invert: false);
        Assert.Equal(expected, split.Split("the-final--countdown"));
    }

    [Fact]
    public void Inverted_split_keeps_the_matches_as_pieces()
    {
        var split = new SplitPreTokenizer(TextPattern.Regex(@"\p{L}+"), SplitBehavior.Removed, Invert: true);
        Assert.Equal(["ab", "cd"], split.Split("ab, cd!"));
    }
}
