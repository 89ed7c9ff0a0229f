using System.Text;
using System.Text.Json;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> into an <see cref="HfTokenizerDefinition"/>. Every step type the
/// Llama-family files use is understood; anything else, or a field of the wrong shape, is an
/// <see cref="InvalidDataException"/> naming the file and the JSON path of the field.
/// </summary>
public static class HfTokenizerJsonReader
{
    private static readonly Serilog.ILogger Log = Serilog.Log.ForContext(typeof(HfTokenizerJsonReader));

    public static HfTokenizerDefinition Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"tokenizer file {path} does not exist", path, e);
        }
        return Parse(bytes, path);
    }

    public static HfTokenizerDefinition Parse(ReadOnlySpan<byte> json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var reader = new Reader(source);
            var root = document.RootElement;
            reader.Expect(root, JsonValueKind.Object, "(root)");
            return new HfTokenizerDefinition(
                source,
                reader.Model(reader.Required(root, "model", "")),
                reader.AddedTokens(root),
                reader.Optional(root, "normalizer") is { } n ? reader.Normalizer(n, "normalizer") : null,
                reader.Optional(root, "pre_tokenizer") is { } p ? reader.PreTokenizer(p, "pre_tokenizer") : null,
                reader.Optional(root, "decoder") is { } d ? reader.Decoder(d, "decoder") : null,
                reader.Optional(root, "post_processor") is { } pp ? reader.TemplateBos(pp, "post_processor") : null);
        }
    }

    private sealed class Reader(string source)
    {
        public InvalidDataException Error(string path, string expected) => new($"{source}: field '{path}' {expected}");

        public void Expect(JsonElement element, JsonValueKind kind, string path)
        {
            if (element.ValueKind != kind) throw Error(path, $"must be a JSON {kind.ToString().ToLowerInvariant()} (got {element.ValueKind})");
        }

        public JsonElement? Optional(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        public JsonElement Required(JsonElement parent, string name, string parentPath)
        {
            var path = Join(parentPath, name);
            return Optional(parent, name) ?? throw Error(path, "is missing");
        }

        public string String(JsonElement parent, string name, string parentPath)
        {
            var value = Required(parent, name, parentPath);
            Expect(value, JsonValueKind.String, Join(parentPath, name));
            return value.GetString()!;
        }

        public string? OptionalString(JsonElement parent, string name, string parentPath)
        {
            if (Optional(parent, name) is not { } value) return null;
            Expect(value, JsonValueKind.String, Join(parentPath, name));
            return value.GetString();
        }

        public bool Bool(JsonElement parent, string name, string parentPath, bool fallback)
        {
            if (Optional(parent, name) is not { } value) return fallback;
            if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw Error(Join(parentPath, name), $"must be true or false (got {value.ValueKind})");
            return value.GetBoolean();
        }

        public int Int(JsonElement parent, string name, string parentPath, int? fallback = null)
        {
            if (Optional(parent, name) is not { } value)
                return fallback ?? throw Error(Join(parentPath, name), "is missing");
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var number))
                throw Error(Join(parentPath, name), $"must be an integer (got {value})");
            return number;
        }

        public char Char(JsonElement parent, string name, string parentPath, char fallback)
        {
            var text = OptionalString(parent, name, parentPath);
            if (text is null) return fallback;
            if (text.Length != 1) throw Error(Join(parentPath, name), $"must be a single character (got '{text}')");
            return text[0];
        }

        public static string Join(string parent, string name) => parent.Length == 0 ? name : $"{parent}.{name}";

        private string TypeOf(JsonElement step, string path)
        {
            Expect(step, JsonValueKind.Object, path);
            return String(step, "type", path);
        }

        private IEnumerable<(JsonElement Item, string Path)> Items(JsonElement parent, string name, string parentPath)
        {
            var array = Required(parent, name, parentPath);
            var path = Join(parentPath, name);
            Expect(array, JsonValueKind.Array, path);
            var index = 0;
            foreach (var item in array.EnumerateArray()) yield return (item, $"{path}[{index++}]");
        }

        public BpeModelDefinition Model(JsonElement model)
        {
            const string path = "model";
            Expect(model, JsonValueKind.Object, path);
            var type = OptionalString(model, "type", path) ?? (model.TryGetProperty("merges", out _) ? "BPE" : null);
            if (type != "BPE")
                throw Error("model.type", $"is '{type ?? "(missing)"}'; only BPE models (Llama, Qwen, Mistral) are supported");
            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
                if (OptionalString(model, affix, path) is { Length: > 0 } value)
                    throw Error($"model.{affix}", $"is '{value}'; BPE with word affixes is not supported (expected null or \"\")");
            if (Optional(model, "dropout") is { ValueKind: JsonValueKind.Number } dropout && dropout.GetDouble() > 0)
                Log.Warning("{Source}: model.dropout {Dropout} is ignored; encoding is deterministic", source, dropout.GetDouble());

            var vocabElement = Required(model, "vocab", path);
            Expect(vocabElement, JsonValueKind.Object, "model.vocab");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in vocabElement.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id))
                    throw Error($"model.vocab[\"{entry.Name}\"]", $"must be an integer id (got {entry.Value})");
                vocab[entry.Name] = id;
            }

            var merges = new List<(string, string)>();
            foreach (var (item, itemPath) in Items(model, "merges", path))
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    var text = item.GetString()!;
                    var parts = text.Split(' ');
                    if (parts.Length != 2) throw Error(itemPath, $"must be \"left right\" with one space (got \"{text}\")");
                    merges.Add((parts[0], parts[1]));
                }
                else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                         && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
                    merges.Add((item[0].GetString()!, item[1].GetString()!));
                else throw Error(itemPath, $"must be \"left right\" or [\"left\", \"right\"] (got {item})");
            }

            return new BpeModelDefinition(
                vocab, merges,
                UnkToken: OptionalString(model, "unk_token", path),
                ByteFallback: Bool(model, "byte_fallback", path, false),
                FuseUnk: Bool(model, "fuse_unk", path, false),
                IgnoreMerges: Bool(model, "ignore_merges", path, false));
        }

        public List<AddedToken> AddedTokens(JsonElement root)
        {
            var tokens = new List<AddedToken>();
            if (Optional(root, "added_tokens") is null) return tokens;
            foreach (var (item, path) in Items(root, "added_tokens", ""))
            {
                Expect(item, JsonValueKind.Object, path);
                tokens.Add(new AddedToken(
                    Int(item, "id", path),
                    String(item, "content", path),
                    Special: Bool(item, "special", path, false),
                    Normalized: Bool(item, "normalized", path, false),
                    LStrip: Bool(item, "lstrip", path, false),
                    RStrip: Bool(item, "rstrip", path, false),
                    SingleWord: Bool(item, "single_word", path, false)));
            }
            return tokens;
        }

        public INormalizer Normalizer(JsonElement step, string path) => TypeOf(step, path) switch
        {
            "NFC" => new UnicodeFormNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeFormNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeFormNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeFormNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "Prepend" => new PrependNormalizer(String(step, "prepend", path)),
            "Replace" => new ReplaceNormalizer(Pattern(step, path), String(step, "content", path)),
            "Strip" => new StripNormalizer(Bool(step, "strip_left", path, false), Bool(step, "strip_right", path, false)),
            "Sequence" => new SequenceNormalizer(Items(step, "normalizers", path).Select(s => Normalizer(s.Item, s.Path)).ToList()),
            var other => throw Error($"{path}.type", $"is '{other}', which is not supported "
                                                  + "(expected NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip or Sequence)"),
        };

        public IPreTokenizer PreTokenizer(JsonElement step, string path) => TypeOf(step, path) switch
        {
            "Split" => new SplitPreTokenizer(Pattern(step, path), Behavior(step, path), Bool(step, "invert", path, false)),
            "ByteLevel" => new ByteLevelPreTokenizer(Bool(step, "add_prefix_space", path, true), Bool(step, "use_regex", path, true)),
            "Metaspace" => new MetaspacePreTokenizer(Char(step, "replacement", path, '▁'), Scheme(step, path), Bool(step, "split", path, true)),
            "Digits" => new DigitsPreTokenizer(Bool(step, "individual_digits", path, false)),
            "Sequence" => new SequencePreTokenizer(Items(step, "pretokenizers", path).Select(s => PreTokenizer(s.Item, s.Path)).ToList()),
            var other => throw Error($"{path}.type", $"is '{other}', which is not supported "
                                                  + "(expected Split, ByteLevel, Metaspace, Digits or Sequence)"),
        };

        public ITokenDecoder Decoder(JsonElement step, string path) => TypeOf(step, path) switch
        {
            "ByteLevel" => new ByteLevelDecoder(),
            "Replace" => new ReplaceDecoder(Pattern(step, path), String(step, "content", path)),
            "ByteFallback" => new ByteFallbackDecoder(),
            "Fuse" => new FuseDecoder(),
            "Strip" => new StripDecoder(Char(step, "content", path, ' '), Int(step, "start", path, 0), Int(step, "stop", path, 0)),
            "Metaspace" => new MetaspaceDecoder(Char(step, "replacement", path, '▁'), Scheme(step, path)),
            "Sequence" => new SequenceDecoder(Items(step, "decoders", path).Select(s => Decoder(s.Item, s.Path)).ToList()),
            var other => throw Error($"{path}.type", $"is '{other}', which is not supported "
                                                  + "(expected ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace or Sequence)"),
        };

        /// <summary>The special token a TemplateProcessing step (possibly inside a Sequence) puts before $A.</summary>
        public string? TemplateBos(JsonElement step, string path)
        {
            switch (TypeOf(step, path))
            {
                case "Sequence":
                    return Items(step, "processors", path).Select(s => TemplateBos(s.Item, s.Path)).FirstOrDefault(t => t is not null);
                case "TemplateProcessing":
                    var first = Items(step, "single", path).Select(s => s.Item).FirstOrDefault();
                    return first.ValueKind == JsonValueKind.Object && first.TryGetProperty("SpecialToken", out var special)
                        ? String(special, "id", $"{path}.single[0].SpecialToken")
                        : null;
                default:
                    return null;
            }
        }

        private TextPattern Pattern(JsonElement step, string parentPath)
        {
            var path = Join(parentPath, "pattern");
            var pattern = Required(step, "pattern", parentPath);
            Expect(pattern, JsonValueKind.Object, path);
            if (OptionalString(pattern, "String", path) is { } literal) return TextPattern.Literal(literal);
            if (OptionalString(pattern, "Regex", path) is { } regex)
            {
                try
                {
                    return TextPattern.Regex(regex);
                }
                catch (ArgumentException e)
                {
                    throw Error($"{path}.Regex", $"cannot be used: {e.Message}");
                }
            }
            throw Error(path, "must hold \"String\" or \"Regex\"");
        }

        private SplitBehavior Behavior(JsonElement step, string path)
        {
            var name = String(step, "behavior", path);
            return Enum.TryParse<SplitBehavior>(name, ignoreCase: true, out var behavior) && Enum.IsDefined(behavior)
                ? behavior
                : throw Error($"{path}.behavior", $"is '{name}' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
        }

        /// <summary>prepend_scheme (current files) or add_prefix_space (older ones).</summary>
        private PrependScheme Scheme(JsonElement step, string path)
        {
            if (OptionalString(step, "prepend_scheme", path) is { } scheme)
                return scheme switch
                {
                    "always" => PrependScheme.Always,
                    "never" => PrependScheme.Never,
                    "first" => PrependScheme.First,
                    _ => throw Error($"{path}.prepend_scheme", $"is '{scheme}' (expected always, never or first)"),
                };
            return Bool(step, "add_prefix_space", path, true) ? PrependScheme.Always : PrependScheme.Never;
        }
    }
}
