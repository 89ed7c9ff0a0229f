using System.Text;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;
using NirvanaCluster.Engine.Tokenizers.Llama2c;

namespace NirvanaCluster.Engine.Gguf;

/// <summary>What vocabulary was written: llama.cpp's tokenizer model and pre-tokenizer, the token count, and notes.</summary>
public sealed record GgufVocabularyInfo(string Source, string TokenizerModel, string? PreTokenizer, int Tokens, int PaddingTokens, IReadOnlyList<string> Notes);

/// <summary>
/// Writes a model folder's tokenizer as the <c>tokenizer.ggml.*</c> keys llama.cpp's <c>llama_vocab::load</c>
/// reads, for every tokenizer family the project reads:
/// <list type="bullet">
/// <item>llama2.c <c>tokenizer.bin</c> and SentencePiece-style BPE <c>tokenizer.json</c> (Llama-2, Mistral) as
/// model "llama" (llama.cpp's SPM tokenizer: merge the adjacent pair whose concatenation is the token with the highest
/// score). tokenizer.bin carries SentencePiece's scores; for a tokenizer.json the score of a token is minus the
/// rank of the first merge that makes it, so "highest score" is "lowest merge rank", Hugging Face's BPE rule.</item>
/// <item>Byte-level BPE <c>tokenizer.json</c> (Llama-3, Qwen2) as model "gpt2" with its merges and the
/// pre-tokenizer llama.cpp implements for the file's split pattern ("llama-bpe", "qwen2"); other patterns are refused.</item>
/// </list>
/// Token types follow llama.cpp's converter: special added tokens CONTROL, other added tokens USER_DEFINED, the
/// unknown token UNKNOWN, "&lt;0xNN&gt;" BYTE, padding up to the embedding's row count UNUSED ("[PAD{id}]").
/// BOS/EOS and add-BOS are the project's own (<see cref="TokenizerLoader"/>), so both tokenize a text the same way.
/// </summary>
public static class GgufVocabulary
{
    // llama.cpp's llama_token_type
    private const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>The split pattern of Llama-3's tokenizer.json: llama.cpp's LLAMA3 pre-tokenizer ("llama-bpe").</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The split pattern of Qwen2's tokenizer.json (single digits): llama.cpp's QWEN2 pre-tokenizer ("qwen2").</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Adds the tokenizer keys for the folder's tokenizer, padded to <paramref name="embeddingRows"/> tokens.</summary>
    public static GgufVocabularyInfo AddTo(GgufMetadata metadata, string modelDir, int embeddingRows)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        var info = AddTokens(metadata, modelDir, embeddingRows, tokenizer);
        if (ChatTemplate(modelDir) is { } template) metadata.String("tokenizer.chat_template", template);
        return info;
    }

    /// <summary>tokenizer_config.json's <c>chat_template</c> (a string), which llama.cpp's chat front ends apply.</summary>
    private static string? ChatTemplate(string modelDir)
    {
        var path = Path.Combine(modelDir, TokenizerLoader.TokenizerConfigFile);
        if (!File.Exists(path)) return null;
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(path));
            return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object &&
                   json.RootElement.TryGetProperty("chat_template", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String
                ? t.GetString()
                : null;
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static GgufVocabularyInfo AddTokens(GgufMetadata metadata, string modelDir, int embeddingRows, ITokenizer tokenizer)
    {
        var json = Path.Combine(modelDir, TokenizerLoader.HuggingFaceFile);
        var bin = Path.Combine(modelDir, TokenizerLoader.Llama2cFile);
        if (tokenizer.VocabSize > embeddingRows)
            throw new InvalidDataException($"{modelDir}: the tokenizer has {tokenizer.VocabSize} tokens but the embedding has {embeddingRows} rows; " +
                                           "llama.cpp needs one embedding row per token, so this model cannot be exported");
        return tokenizer switch
        {
            HfTokenizer hf => FromTokenizerJson(metadata, hf, json, embeddingRows),
            Llama2cTokenizer l2c => FromLlama2c(metadata, l2c, bin, embeddingRows),
            _ => throw new InvalidDataException($"{modelDir}: tokenizer {tokenizer.GetType().Name} has no GGUF form"),
        };
    }

    private static GgufVocabularyInfo FromLlama2c(GgufMetadata m, Llama2cTokenizer t, string source, int rows)
    {
        var tokens = new string[rows];
        var scores = new float[rows];
        var types = new int[rows];
        for (var id = 0; id < t.VocabSize; id++)
        {
            scores[id] = t.Score(id);
            if (t.ByteValue(id) is >= 0 and var b)
            {
                tokens[id] = $"<0x{b:X2}>";
                types[id] = Byte;
            }
            else if (id == 0 || id == t.BosTokenId || id == t.EosTokenId)
            {
                tokens[id] = Encoding.UTF8.GetString(t.StoredPiece(id)).Trim('\n'); // "\n<s>\n" is llama2.c's printing form
                types[id] = id == 0 ? Unknown : Control;
            }
            else
            {
                tokens[id] = Encoding.UTF8.GetString(t.StoredPiece(id)).Replace(' ', '▁');
                types[id] = Normal;
            }
        }
        var padding = Pad(tokens, scores, types, t.VocabSize);
        CheckUnique(tokens, source);
        m.String("tokenizer.ggml.model", "llama");
        m.Strings("tokenizer.ggml.tokens", tokens).Float32s("tokenizer.ggml.scores", scores).Int32s("tokenizer.ggml.token_type", types);
        AddSpecials(m, t, unknownId: 0);
        m.Bool("tokenizer.ggml.add_space_prefix", true); // llama2.c's encode adds the dummy-prefix space
        var byteTokens = types.Count(type => type == Byte);
        List<string> notes = byteTokens == 256 ? [] :
            [$"the vocabulary has {byteTokens} of the 256 byte tokens <0x00>..<0xFF>: llama.cpp cannot tokenize a character outside it"];
        return new GgufVocabularyInfo(source, "llama", null, rows, padding, notes);
    }

    private static GgufVocabularyInfo FromTokenizerJson(GgufMetadata m, HfTokenizer t, string source, int rows)
    {
        var d = t.Definition;
        var tokens = new string?[rows];
        var types = new int[rows];
        foreach (var (text, id) in d.Model.Vocab)
        {
            if (id >= rows) throw new InvalidDataException($"{source}: token '{text}' has id {id}, outside the embedding's {rows} rows");
            tokens[id] = text;
            types[id] = Normal;
        }
        foreach (var added in d.AddedTokens)
        {
            tokens[added.Id] = added.Content;
            types[added.Id] = added.Special ? Control : UserDefined;
        }
        var steps = Flatten(d.PreTokenizer);
        var byteLevel = steps.OfType<ByteLevelPreTokenizer>().FirstOrDefault();
        if (byteLevel is not null) return ByteLevelBpe(m, t, source, tokens, types, steps, byteLevel);
        return SentencePieceBpe(m, t, source, tokens, types, steps);
    }

    private static GgufVocabularyInfo ByteLevelBpe(GgufMetadata m, HfTokenizer t, string source, string?[] tokens, int[] types,
        List<IPreTokenizer> steps, ByteLevelPreTokenizer byteLevel)
    {
        var d = t.Definition;
        var splits = steps.OfType<SplitPreTokenizer>().ToList();
        var pattern = splits.Count == 1 ? splits[0].Pattern.ToString() : null;
        var (pre, expectedNormalizer) = pattern switch
        {
            "Regex(" + Llama3Pattern + ")" => ("llama-bpe", (Type?)null),
            "Regex(" + Qwen2Pattern + ")" => ("qwen2", typeof(UnicodeFormNormalizer)),
            _ => (null, null),
        };
        if (pre is null || byteLevel.AddPrefixSpace || byteLevel.UseRegex || steps.Count != 2 || splits[0].Behavior != SplitBehavior.Isolated || splits[0].Invert)
            throw new InvalidDataException(
                $"{source}: field 'pre_tokenizer' is a byte-level BPE pipeline llama.cpp does not implement " +
                $"(it knows Llama-3's split pattern as 'llama-bpe' and Qwen2's as 'qwen2', each a Split (Isolated) then ByteLevel without prefix space; got {pattern ?? $"{splits.Count} Split steps"}); " +
                "a GGUF with another pre-tokenizer would tokenize text differently, so it is not written");
        var notes = new List<string>();
        if (d.Normalizer is not null && d.Normalizer.GetType() != expectedNormalizer)
            throw new InvalidDataException($"{source}: field 'normalizer' ({d.Normalizer}) is not what llama.cpp's '{pre}' tokenizer assumes; the export would tokenize differently");
        if (d.Normalizer is UnicodeFormNormalizer nfc && nfc.Form != NormalizationForm.FormC)
            throw new InvalidDataException($"{source}: field 'normalizer' is {nfc.Form}; llama.cpp's '{pre}' tokenizer assumes NFC");
        if (d.Normalizer is not null)
            notes.Add("llama.cpp's qwen2 tokenizer does not apply the NFC normalizer: text that is not already NFC may tokenize differently");
        if (d.Model.ByteFallback) notes.Add("byte_fallback is ignored by llama.cpp's byte-level BPE (every byte has a token)");
        var scores = new float[tokens.Length];
        var padding = Pad(tokens, scores, types, t.VocabSize);
        CheckUnique(tokens!, source);
        m.String("tokenizer.ggml.model", "gpt2").String("tokenizer.ggml.pre", pre);
        m.Strings("tokenizer.ggml.tokens", tokens!).Int32s("tokenizer.ggml.token_type", types);
        m.Strings("tokenizer.ggml.merges", d.Model.Merges.Select(p => p.Left + " " + p.Right).ToArray());
        AddSpecials(m, t, unknownId: null);
        return new GgufVocabularyInfo(source, "gpt2", pre, tokens.Length, padding, notes);
    }

    private static GgufVocabularyInfo SentencePieceBpe(GgufMetadata m, HfTokenizer t, string source, string?[] tokens, int[] types, List<IPreTokenizer> steps)
    {
        var d = t.Definition;
        var metaspace = steps.OfType<MetaspacePreTokenizer>().FirstOrDefault();
        var normalizers = Flatten(d.Normalizer);
        var replacesSpaces = normalizers.OfType<ReplaceNormalizer>().Any(r => r.Content == "▁");
        if (metaspace is null && !replacesSpaces)
            throw new InvalidDataException($"{source}: a BPE tokenizer that is neither byte-level (a ByteLevel pre-tokenizer) nor SentencePiece-style " +
                                           "(a Metaspace pre-tokenizer or a Replace(\" \", \"▁\") normalizer) has no llama.cpp tokenizer to run it");
        if (metaspace is { Replacement: not '▁' })
            throw new InvalidDataException($"{source}: field 'pre_tokenizer.replacement' is '{metaspace.Replacement}'; llama.cpp's SentencePiece tokenizer uses '▁'");
        var addSpacePrefix = metaspace is not null
            ? metaspace.Scheme != PrependScheme.Never
            : normalizers.OfType<PrependNormalizer>().Any(p => p.Prefix == "▁");
        var unknownId = d.Model.UnkToken is { } unk && t.TokenToId(unk) is { } u ? u : (int?)null;
        if (unknownId is { } unkId) types[unkId] = Unknown;
        for (var b = 0; b < 256; b++)
        {
            var id = t.TokenToId($"<0x{b:X2}>") ?? throw new InvalidDataException(
                $"{source}: has no byte token '<0x{b:X2}>'; llama.cpp's SentencePiece tokenizer spells unknown characters as the 256 byte tokens");
            if (types[id] == Normal) types[id] = Byte;
        }

        // Score = -(rank of the first merge that yields the token): llama.cpp merges the best-scoring pair first.
        var merges = d.Model.Merges;
        var scores = new float[tokens.Length];
        for (var id = 0; id < scores.Length; id++) scores[id] = -(merges.Count + id);
        for (var rank = merges.Count - 1; rank >= 0; rank--)
            if (t.TokenToId(merges[rank].Left + merges[rank].Right) is { } merged)
                scores[merged] = -rank;
        var padding = Pad(tokens, scores, types, t.VocabSize);
        CheckUnique(tokens!, source);
        m.String("tokenizer.ggml.model", "llama");
        m.Strings("tokenizer.ggml.tokens", tokens!).Float32s("tokenizer.ggml.scores", scores).Int32s("tokenizer.ggml.token_type", types);
        AddSpecials(m, t, unknownId);
        m.Bool("tokenizer.ggml.add_space_prefix", addSpacePrefix);
        var notes = new List<string>();
        if (metaspace is { Scheme: PrependScheme.First })
            notes.Add("llama.cpp adds the '▁' prefix after every special token in a text, Metaspace(prepend_scheme: first) only at its start");
        return new GgufVocabularyInfo(source, "llama", null, tokens.Length, padding, notes);
    }

    private static void AddSpecials(GgufMetadata m, ITokenizer t, int? unknownId)
    {
        if (t.BosTokenId is { } bos) m.UInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (t.EosTokenId is { } eos) m.UInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        if (unknownId is { } unk) m.UInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        m.Bool("tokenizer.ggml.add_bos_token", t.AddBosByDefault);
        m.Bool("tokenizer.ggml.add_eos_token", false);
    }

    /// <summary>Ids the tokenizer leaves empty, up to the embedding's rows, become UNUSED "[PAD{id}]" tokens, as llama.cpp's converter writes.</summary>
    private static int Pad(string?[] tokens, float[] scores, int[] types, int tokenizerSize)
    {
        var padding = 0;
        for (var id = 0; id < tokens.Length; id++)
        {
            if (tokens[id] is not null) continue;
            tokens[id] = $"[PAD{id}]";
            types[id] = Unused;
            scores[id] = 0;
            if (id >= tokenizerSize) padding++;
        }
        return padding;
    }

    /// <summary>llama.cpp maps token text to id and asserts the map is as large as the list.</summary>
    private static void CheckUnique(string[] tokens, string source)
    {
        var seen = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (var id = 0; id < tokens.Length; id++)
            if (!seen.TryAdd(tokens[id], id))
                throw new InvalidDataException($"{source}: tokens {seen[tokens[id]]} and {id} are both '{tokens[id]}'; llama.cpp needs every token text once");
    }

    private static List<IPreTokenizer> Flatten(IPreTokenizer? step) => step switch
    {
        null => [],
        SequencePreTokenizer s => s.Steps.SelectMany(Flatten).ToList(),
        _ => [step],
    };

    private static List<INormalizer> Flatten(INormalizer? step) => step switch
    {
        null => [],
        SequenceNormalizer s => s.Steps.SelectMany(Flatten).ToList(),
        _ => [step],
    };
}
