using System.Collections.Concurrent;
using System.Text;
using NirvanaCluster.Engine.Tokenizers.Bpe;

namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>The <c>model</c> object of a <c>tokenizer.json</c> whose type is BPE, as read from the file.</summary>
public sealed record BpeModelDefinition(
    IReadOnlyDictionary<string, int> Vocab,
    IReadOnlyList<(string Left, string Right)> Merges,
    string? UnkToken = null,
    bool ByteFallback = false,
    bool FuseUnk = false,
    bool IgnoreMerges = false);

/// <summary>
/// Hugging Face BPE over one pre-tokenized word: characters to vocabulary ids (unknown ones to "&lt;0xNN&gt;"
/// byte tokens with byte_fallback, else to unk_token), then ranked merges. Results are cached per word, since
/// natural text repeats its words; a word that is in the vocabulary as a whole skips merging under ignore_merges.
/// Thread-safe.
/// </summary>
public sealed class BpeModel
{
    private const int CacheCapacity = 100_000;
    private const int MaxCachedWordLength = 128;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string?[] _tokens;
    private readonly MergeTable _merges;
    private readonly int[] _byteTokens; // id of "<0xNN>" per byte, -1 where absent
    private readonly int? _unkId;
    private readonly bool _byteFallback, _fuseUnk, _ignoreMerges;
    private readonly bool _splitAtMetaspace; // SentencePiece vocabulary: a "word" may be a whole text, cut it
    private const char Metaspace = '▁';
    private readonly ConcurrentDictionary<string, int[]> _cache = new();

    public BpeModel(BpeModelDefinition definition, string source)
    {
        _vocab = new Dictionary<string, int>(definition.Vocab, StringComparer.Ordinal);
        _lookup = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        var maxId = _vocab.Count == 0 ? -1 : _vocab.Values.Max();
        _tokens = new string?[maxId + 1];
        foreach (var (token, id) in _vocab)
        {
            if (id < 0) throw new InvalidDataException($"{source}: field 'model.vocab' maps '{token}' to negative id {id}");
            _tokens[id] = token;
        }

        _merges = new MergeTable(definition.Merges.Count);
        for (var rank = 0; rank < definition.Merges.Count; rank++)
        {
            var (left, right) = definition.Merges[rank];
            if (!_vocab.TryGetValue(left, out var leftId) || !_vocab.TryGetValue(right, out var rightId))
                throw new InvalidDataException(
                    $"{source}: field 'model.merges[{rank}]' names '{(_vocab.ContainsKey(left) ? right : left)}', which is not in model.vocab");
            if (!_vocab.TryGetValue(left + right, out var merged))
                throw new InvalidDataException($"{source}: field 'model.merges[{rank}]' yields '{left + right}', which is not in model.vocab");
            _merges.Set(leftId, rightId, rank, merged);
        }

        _byteTokens = new int[256];
        for (var b = 0; b < 256; b++) _byteTokens[b] = _vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
        if (definition.UnkToken is { } unk)
        {
            if (!_vocab.TryGetValue(unk, out var unkId))
                throw new InvalidDataException($"{source}: field 'model.unk_token' is '{unk}', which is not in model.vocab");
            _unkId = unkId;
        }
        _byteFallback = definition.ByteFallback;
        _fuseUnk = definition.FuseUnk;
        _ignoreMerges = definition.IgnoreMerges;
        _splitAtMetaspace = _vocab.ContainsKey(Metaspace.ToString()) && SpaceBoundaries.VocabularyAllows(_vocab.Keys, Metaspace);
    }

    /// <summary>One past the highest id of the model's vocabulary (added tokens not included).</summary>
    public int IdSpan => _tokens.Length;

    public int MergeCount => _merges.Count;

    public string? IdToToken(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    public bool TryGetId(string token, out int id) => _vocab.TryGetValue(token, out id);

    public void EncodeWord(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (_ignoreMerges && _vocab.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }
        if (_splitAtMetaspace)
            SpaceBoundaries.Split(word, Metaspace, (start, length) => EncodePiece(word.Substring(start, length), output));
        else EncodePiece(word, output);
    }

    private void EncodePiece(string word, List<int> output)
    {
        if (_cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var symbols = new List<int>(word.Length);
        var lastWasUnk = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length; i++)
        {
            var width = char.IsSurrogatePair(word, i) ? 2 : 1;
            var character = word.AsSpan(i, width);
            i += width - 1;
            if (_lookup.TryGetValue(character, out var id))
            {
                symbols.Add(id);
                lastWasUnk = false;
                continue;
            }
            if (_byteFallback && TryAddBytes(character, utf8, symbols))
            {
                lastWasUnk = false;
                continue;
            }
            if (_unkId is { } unk && !(_fuseUnk && lastWasUnk))
            {
                symbols.Add(unk);
                lastWasUnk = true;
            }
            // With neither byte fallback nor unk_token the character is dropped, as Hugging Face does.
        }

        var ids = symbols.ToArray();
        var count = BpeMerger.Merge(ids, _merges);
        var result = count == ids.Length ? ids : ids[..count];
        if (word.Length <= MaxCachedWordLength && _cache.Count < CacheCapacity) _cache.TryAdd(word, result);
        output.AddRange(result);
    }

    private bool TryAddBytes(ReadOnlySpan<char> character, Span<byte> utf8, List<int> symbols)
    {
        var length = Encoding.UTF8.GetBytes(character, utf8);
        for (var k = 0; k < length; k++)
            if (_byteTokens[utf8[k]] < 0) return false;
        for (var k = 0; k < length; k++) symbols.Add(_byteTokens[utf8[k]]);
        return true;
    }
}
