using NirvanaCluster.Engine.Assets;

namespace NirvanaCluster.Engine.Tests.Assets;

public class DefaultTextsTests
{
    [Fact]
    public void Moby_Dick_is_plain_text_from_the_etymology_to_the_epilogue()
    {
        var path = DefaultTexts.MobyDick();
        var text = File.ReadAllText(path);
        Assert.StartsWith("ETYMOLOGY.", text);
        Assert.Contains("CHAPTER 1. Loomings.\n\nCall me Ishmael. Some years ago", text);
        Assert.Contains("CHAPTER 135. The Chase.—Third Day.", text);
        Assert.EndsWith("only found another orphan.\n", text);
        Assert.DoesNotContain("CONTENTS", text);
        Assert.DoesNotContain("\"text\":", text);
        Assert.InRange(text.Length, 1_100_000, 1_300_000);
        Assert.Equal(path, DefaultTexts.MobyDick());
    }
}
