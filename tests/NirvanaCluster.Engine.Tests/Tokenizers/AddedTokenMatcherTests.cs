using NirvanaCluster.Engine.Tokenizers.HuggingFace;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class AddedTokenMatcherTests
{
    private static List<string> Show(AddedTokenMatcher matcher, string text) =>
        matcher.Split(text).Select(s => s.TokenId is { } id ? $"#{id}" : s.Text!).ToList();

    [Fact]
    public void Takes_the_leftmost_match_and_the_longest_there()
    {
        var matcher = new AddedTokenMatcher([new AddedToken(1, "<a>"), new AddedToken(2, "<a><b>"), new AddedToken(3, "b>x")]);
        Assert.Equal(["x", "#2", "y", "#1", "<b"], Show(matcher, "x<a><b>y<a><b"));
        Assert.Equal(["<", "#3"], Show(matcher, "<b>x"));
    }

    [Fact]
    public void Strips_adjacent_whitespace_when_asked()
    {
        var matcher = new AddedTokenMatcher([new AddedToken(7, "<mask>", LStrip: true, RStrip: true)]);
        Assert.Equal(["a", "#7", "b"], Show(matcher, "a  <mask>\tb"));
    }

    [Fact]
    public void Matches_a_single_word_token_only_between_word_boundaries()
    {
        var matcher = new AddedTokenMatcher([new AddedToken(9, "ok", SingleWord: true)]);
        Assert.Equal(["#9", " ", "#9", "!"], Show(matcher, "ok ok!"));
        Assert.Equal(["book oks"], Show(matcher, "book oks")); // inside words: not matched, text stays whole
    }

    [Fact]
    public void Leaves_text_without_tokens_whole()
    {
        Assert.Equal(["plain text"], Show(new AddedTokenMatcher([]), "plain text"));
        Assert.Empty(new AddedTokenMatcher([new AddedToken(1, "<s>")]).Split(""));
    }
}
