using System.Text.Json;
using NirvanaCluster.Engine.Tokenizers.HuggingFace;
using NirvanaCluster.Engine.Tokenizers.Llama2c;

namespace NirvanaCluster.Engine.Tokenizers;

/// <summary>
/// Finds and loads the tokenizer of a model folder: <c>tokenizer.json</c> (Hugging Face) if present, else
/// <c>tokenizer.bin</c> (llama2.c). BOS/EOS and whether to add BOS come from <c>tokenizer_config.json</c>
/// (add_bos_token, bos_token, eos_token) when it names them, else from <c>config.json</c> (bos_token_id,
/// eos_token_id), else from the tokenizer file itself.
/// </summary>
public static class TokenizerLoader
{
    public const string HuggingFaceFile = "tokenizer.json";
    public const string Llama2cFile = "tokenizer.bin";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string ModelConfigFile = "config.json";

    private static readonly Serilog.ILogger Log = Serilog.Log.ForContext(typeof(TokenizerLoader));

    public static ITokenizer Load(string modelDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"model folder {modelDir} does not exist");

        var jsonPath = Path.Combine(modelDir, HuggingFaceFile);
        var binPath = Path.Combine(modelDir, Llama2cFile);
        ITokenizer tokenizer;
        if (File.Exists(jsonPath))
        {
            var hf = new HfTokenizer(HfTokenizerJsonReader.Read(jsonPath));
            tokenizer = hf.WithSettings(Resolve(modelDir, hf.Settings, hf.TokenToId));
        }
        else if (File.Exists(binPath))
        {
            var bin = Llama2cTokenizer.Load(binPath);
            tokenizer = bin.WithSettings(Resolve(modelDir, new SpecialTokenSettings(bin.BosTokenId, bin.EosTokenId, bin.AddBosByDefault), bin.TokenToId));
        }
        else
        {
            throw new FileNotFoundException(
                $"model folder {modelDir} holds no tokenizer: looked for {HuggingFaceFile} (Hugging Face) and {Llama2cFile} (llama2.c)");
        }

        Log.Information("Tokenizer of {ModelDir}: {Kind}, vocabulary {VocabSize}, bos {Bos}, eos {Eos}, add bos {AddBos}",
            modelDir, tokenizer.GetType().Name, tokenizer.VocabSize, tokenizer.BosTokenId, tokenizer.EosTokenId, tokenizer.AddBosByDefault);
        return tokenizer;
    }

    private static SpecialTokenSettings Resolve(string modelDir, SpecialTokenSettings fromTokenizer, Func<string, int?> tokenToId)
    {
        var settings = fromTokenizer;
        var configPath = Path.Combine(modelDir, ModelConfigFile);
        if (File.Exists(configPath))
        {
            using var config = ReadJson(configPath);
            if (TryId(config.RootElement, "bos_token_id", configPath, out var bos)) settings = settings with { BosTokenId = bos };
            if (TryId(config.RootElement, "eos_token_id", configPath, out var eos)) settings = settings with { EosTokenId = eos };
        }

        var tokenizerConfigPath = Path.Combine(modelDir, TokenizerConfigFile);
        bool? addBos = null;
        if (File.Exists(tokenizerConfigPath))
        {
            using var tokenizerConfig = ReadJson(tokenizerConfigPath);
            var root = tokenizerConfig.RootElement;
            if (TryToken(root, "bos_token", tokenizerConfigPath, tokenToId, out var bos)) settings = settings with { BosTokenId = bos };
            if (TryToken(root, "eos_token", tokenizerConfigPath, tokenToId, out var eos)) settings = settings with { EosTokenId = eos };
            if (root.TryGetProperty("add_bos_token", out var add) && add.ValueKind != JsonValueKind.Null)
                addBos = add.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? add.GetBoolean()
                    : throw new InvalidDataException($"{tokenizerConfigPath}: field 'add_bos_token' must be true or false (got {add})");
        }
        // Without an explicit add_bos_token a model adds BOS exactly when it has one.
        return settings with { AddBosByDefault = addBos ?? (fromTokenizer.AddBosByDefault && settings.BosTokenId is not null) };
    }

    private static JsonDocument ReadJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>config.json ids: an integer, or a list whose first entry counts (Llama-3.1 lists several EOS ids).</summary>
    private static bool TryId(JsonElement root, string field, string path, out int? id)
    {
        id = null;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            return false;
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0) value = value[0];
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var number))
            throw new InvalidDataException($"{path}: field '{field}' must be an integer or a list of integers (got {value})");
        id = number;
        return true;
    }

    /// <summary>tokenizer_config.json tokens: a string, an AddedToken object with "content", or null (none).</summary>
    private static bool TryToken(JsonElement root, string field, string path, Func<string, int?> tokenToId, out int? id)
    {
        id = null;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(field, out var value)) return false;
        if (value.ValueKind == JsonValueKind.Null) return true;
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content)) value = content;
        if (value.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}: field '{field}' must be a token string or {{\"content\": ...}} (got {value})");
        var text = value.GetString()!;
        id = tokenToId(text) ?? throw new InvalidDataException($"{path}: field '{field}' names '{text}', which is not a token of the tokenizer");
        return true;
    }
}
