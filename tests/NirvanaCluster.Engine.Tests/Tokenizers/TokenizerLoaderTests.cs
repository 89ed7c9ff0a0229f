using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;
using NirvanaCluster.Engine.Tokenizers.Llama2c;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

public sealed class TokenizerLoaderTests
{
    private const string TinyTokenizerJson = """
        {
          "added_tokens": [ { "id": 5, "content": "<s>", "special": true }, { "id": 6, "content": "</s>", "special": true } ],
          "normalizer": null,
          "pre_tokenizer": { "type": "ByteLevel", "add_prefix_space": false, "use_regex": true },
          "decoder": { "type": "ByteLevel" },
          "model": { "type": "BPE", "vocab": { "a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4 }, "merges": [ "a b", ["Ġ", "ab"] ] }
        }
        """;

    [Fact]
    public void Loads_a_folder_holding_only_tokenizer_json()
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.json", TinyTokenizerJson);
        var tokenizer = Assert.IsType<HfTokenizer>(TokenizerLoader.Load(folder.Path));
        Assert.Equal(7, tokenizer.VocabSize);
        Assert.Equal(5, tokenizer.BosTokenId);  // by the well-known name, there being no config
        Assert.Equal(6, tokenizer.EosTokenId);
        Assert.Equal([5, 2, 4, 0], tokenizer.Encode("ab aba", addBos: true)); // "ab" " ab" "a": both merge forms work
        Assert.Equal("ab aba", tokenizer.Decode([2, 4, 0]));
    }

    [Fact]
    public void Loads_a_folder_holding_only_tokenizer_bin()
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.bin", TokenizerAssets.Llama2cTokenizerBytes());
        var tokenizer = Assert.IsType<Llama2cTokenizer>(TokenizerLoader.Load(folder.Path));
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal([1, 2646, 1327, 287], tokenizer.Encode("grabbed", tokenizer.AddBosByDefault));
    }

    [Fact]
    public void Prefers_tokenizer_json_and_takes_settings_from_the_configs()
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.json", TinyTokenizerJson);
        folder.Write("tokenizer.bin", [0x1B, 0, 0, 0]);
        folder.Write("config.json", """{ "bos_token_id": 0, "eos_token_id": [1, 6] }""");
        var fromConfig = TokenizerLoader.Load(folder.Path);
        Assert.IsType<HfTokenizer>(fromConfig);
        Assert.Equal((0, 1, true), (fromConfig.BosTokenId, fromConfig.EosTokenId, fromConfig.AddBosByDefault));

        // tokenizer_config.json wins over config.json
        folder.Write("tokenizer_config.json", """{ "add_bos_token": false, "bos_token": { "content": "<s>" }, "eos_token": "</s>" }""");
        var fromTokenizerConfig = TokenizerLoader.Load(folder.Path);
        Assert.Equal((5, 6, false), (fromTokenizerConfig.BosTokenId, fromTokenizerConfig.EosTokenId, fromTokenizerConfig.AddBosByDefault));
        Assert.Equal([2], fromTokenizerConfig.Encode("ab", fromTokenizerConfig.AddBosByDefault));
    }

    [Fact]
    public void Names_the_folder_and_the_files_it_looked_for_when_there_is_no_tokenizer()
    {
        using var folder = new TokenizerAssets.TempFolder();
        var error = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(folder.Path));
        Assert.Contains(folder.Path, error.Message);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("tokenizer.bin", error.Message);
        Assert.Throws<DirectoryNotFoundException>(() => TokenizerLoader.Load(Path.Combine(folder.Path, "missing")));
    }

    [Theory]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }""", "not valid JSON")]
    [InlineData("""{ "added_tokens": [] }""", "field 'model' is missing")]
    [InlineData("""{ "model": { "type": "Unigram", "vocab": [] } }""", "field 'model.type' is 'Unigram'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": "zero" }, "merges": [] } }""", "field 'model.vocab[\"a\"]'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [ "a" ] } }""", "field 'model.merges[0]'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [ "a a" ] } }""", "field 'model.merges[0]' yields 'aa'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "added_tokens": [ { "content": "x" } ] }""", "field 'added_tokens[0].id' is missing")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "pre_tokenizer": { "type": "Whitespace" } }""", "field 'pre_tokenizer.type' is 'Whitespace'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "pre_tokenizer": { "type": "Sequence", "pretokenizers": [ { "type": "Split", "pattern": { "Regex": "[a&&b]" }, "behavior": "Isolated" } ] } }""", "field 'pre_tokenizer.pretokenizers[0].pattern.Regex'")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "decoder": { "type": "Strip", "content": "ab" } }""", "field 'decoder.content'")]
    public void Rejects_a_malformed_tokenizer_json_naming_file_and_field(string json, string expected)
    {
        using var folder = new TokenizerAssets.TempFolder();
        var path = folder.Write("tokenizer.json", json);
        var error = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(folder.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Rejects_a_truncated_tokenizer_bin_naming_file_and_token()
    {
        using var folder = new TokenizerAssets.TempFolder();
        var path = folder.Write("tokenizer.bin", TokenizerAssets.Llama2cTokenizerBytes()[..1000]);
        var error = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(folder.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("token ", error.Message);
    }

    [Fact]
    public void Rejects_a_config_token_that_is_not_in_the_vocabulary()
    {
        using var folder = new TokenizerAssets.TempFolder();
        folder.Write("tokenizer.json", TinyTokenizerJson);
        var path = folder.Write("tokenizer_config.json", """{ "eos_token": "<|im_end|>" }""");
        var error = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(folder.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("eos_token", error.Message);
    }
}
