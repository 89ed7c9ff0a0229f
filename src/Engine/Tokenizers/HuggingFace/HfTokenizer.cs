namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> tokenizer with a BPE model, byte-level (Llama-3, Qwen2.5) or
/// SentencePiece-style with byte fallback (Llama-2, Mistral). Encoding follows the library's pipeline: added tokens
/// that are not normalized are cut out of the raw text; each stretch between them is normalized, searched for
/// normalized added tokens, pre-tokenized into words and each word BPE-encoded. Decoding runs the declared decoder.
/// </summary>
public sealed class HfTokenizer : ITokenizer
{
    private static readonly string[] WellKnownBos = ["<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>"];
    private static readonly string[] WellKnownEos = ["<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"];

    private readonly BpeModel _model;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly SpecialTokenSettings _settings;

    /// <summary>Builds the tokenizer; without <paramref name="settings"/> BOS comes from the TemplateProcessing
    /// post-processor or a well-known name ("&lt;s&gt;", "&lt;|begin_of_text|&gt;"), EOS from a well-known name.</summary>
    public HfTokenizer(HfTokenizerDefinition definition, SpecialTokenSettings? settings = null)
    {
        Definition = definition;
        _model = new BpeModel(definition.Model, definition.Source);
        _addedById = new Dictionary<int, AddedToken>();
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in definition.AddedTokens)
        {
            if (token.Id < 0)
                throw new InvalidDataException($"{definition.Source}: field 'added_tokens' gives '{token.Content}' negative id {token.Id}");
            _addedById[token.Id] = token;
            _addedByContent.TryAdd(token.Content, token.Id);
        }
        _rawMatcher = new AddedTokenMatcher(definition.AddedTokens.Where(t => !t.Normalized));
        _normalizedMatcher = new AddedTokenMatcher(definition.AddedTokens.Where(t => t.Normalized));
        VocabSize = Math.Max(_model.IdSpan, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);
        _settings = (settings ?? DefaultSettings()).Validated(VocabSize, definition.Source);
    }

    private HfTokenizer(HfTokenizer other, SpecialTokenSettings settings)
    {
        Definition = other.Definition;
        _model = other._model;
        _rawMatcher = other._rawMatcher;
        _normalizedMatcher = other._normalizedMatcher;
        _addedById = other._addedById;
        _addedByContent = other._addedByContent;
        VocabSize = other.VocabSize;
        _settings = settings.Validated(VocabSize, Definition.Source);
    }

    public HfTokenizerDefinition Definition { get; }

    public int VocabSize { get; }

    public int? BosTokenId => _settings.BosTokenId;

    public int? EosTokenId => _settings.EosTokenId;

    public bool AddBosByDefault => _settings.AddBosByDefault;

    public SpecialTokenSettings Settings => _settings;

    /// <summary>The same vocabulary and pipeline with other BOS/EOS settings (the model is shared, not rebuilt).</summary>
    public HfTokenizer WithSettings(SpecialTokenSettings settings) => new(this, settings);

    /// <summary>The id of a token written as in the file: an added token's content or a vocabulary entry.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var id) ? id : _model.TryGetId(token, out id) ? id : null;

    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var token) && token.Special;

    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosTokenId is { } bos) ids.Add(bos);
        foreach (var segment in _rawMatcher.Split(text))
        {
            if (segment.TokenId is { } special)
            {
                ids.Add(special);
                continue;
            }
            var normalized = Definition.Normalizer?.Normalize(segment.Text!) ?? segment.Text!;
            foreach (var part in _normalizedMatcher.Split(normalized))
            {
                if (part.TokenId is { } added)
                {
                    ids.Add(added);
                    continue;
                }
                List<PreTokenSplit> words = [new(part.Text!, segment.Start == 0 && part.Start == 0)];
                if (Definition.PreTokenizer is { } preTokenizer) words = preTokenizer.PreTokenize(words);
                foreach (var word in words) _model.EncodeWord(word.Text, ids);
            }
        }
        return ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids) => Render(ids, atSequenceStart: true);

    public string DecodeToken(int id) => Render([id], atSequenceStart: false);

    private string Render(ReadOnlySpan<int> ids, bool atSequenceStart)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids) tokens.Add(IdToToken(id));
        if (Definition.Decoder is null) return string.Join(' ', tokens);
        return string.Concat(Definition.Decoder.Decode(tokens, atSequenceStart));
    }

    private string IdToToken(int id) =>
        _addedById.TryGetValue(id, out var added) ? added.Content
        : _model.IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id,
            $"token id {id} is not in the vocabulary of {Definition.Source} (size {VocabSize})");

    private SpecialTokenSettings DefaultSettings()
    {
        var bos = (Definition.TemplateBosToken is { } template ? TokenToId(template) : null)
                  ?? WellKnownBos.Select(TokenToId).FirstOrDefault(id => id is not null);
        var eos = WellKnownEos.Select(TokenToId).FirstOrDefault(id => id is not null);
        return new SpecialTokenSettings(bos, eos, AddBosByDefault: bos is not null);
    }
}
