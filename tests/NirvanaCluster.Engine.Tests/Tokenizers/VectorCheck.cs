using NirvanaCluster.Engine.Tokenizers;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>Runs a list of vectors and fails once, listing every mismatch, so one run shows the whole picture.</summary>
public sealed class VectorCheck
{
    private readonly List<string> _failures = [];
    public int Checked { get; private set; }

    public void Encode(ITokenizer tokenizer, string text, bool addBos, int[] expected)
    {
        Checked++;
        var actual = tokenizer.Encode(text, addBos);
        if (!actual.SequenceEqual(expected))
            _failures.Add($"encode({Show(text)}): expected [{string.Join(",", expected)}]\n   actual [{string.Join(",", actual)}]");
    }

    public void Decode(ITokenizer tokenizer, int[] ids, string expected)
    {
        Checked++;
        var actual = tokenizer.Decode(ids);
        if (actual != expected) _failures.Add($"decode([{string.Join(",", ids)}]): expected {Show(expected)}, actual {Show(actual)}");
    }

    public void Equal<T>(T expected, T actual, string what)
    {
        Checked++;
        if (!EqualityComparer<T>.Default.Equals(expected, actual)) _failures.Add($"{what}: expected {expected}, actual {actual}");
    }

    public void AssertAllPassed(int minimumChecked)
    {
        Assert.True(_failures.Count == 0, $"{_failures.Count} of {Checked} checks failed:\n" + string.Join("\n", _failures));
        Assert.True(Checked >= minimumChecked, $"only {Checked} checks ran, expected at least {minimumChecked}: were the vectors found?");
    }

    private static string Show(string text) =>
        System.Text.Json.JsonSerializer.Serialize(text.Length > 80 ? text[..80] + "..." : text);
}
