using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using NirvanaCluster.Engine.Tokenizers.Bpe;

namespace NirvanaCluster.Engine.Tokenizers.Llama2c;

/// <summary>
/// llama2.c's <c>tokenizer.bin</c>: int32 max_token_length, then per token float32 score, int32 length and the
/// piece's bytes (spaces are ' ', not '▁'; byte tokens are "&lt;0xNN&gt;" or, in the original export, the byte as
/// a Latin-1 character). Encoding is llama2.c's <c>encode</c>: a dummy-prefix space, one piece per code point
/// (unknown code points as UTF-8 byte tokens), then merging the adjacent pair whose concatenation is a piece with
/// the highest score, leftmost on ties, until none is left. Byte and control tokens never take part in lookups or
/// merges, which is SentencePiece's behaviour (llama2.c's string search could otherwise land on them).
/// </summary>
public sealed class Llama2cTokenizer : ITokenizer
{
    public const int LlamaBosId = 1;
    public const int LlamaEosId = 2;
    private const int UnknownId = 0;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly int[] _byteValue;           // per id: the raw byte a byte token stands for, else -1
    private readonly int[] _byteToken = new int[256];
    private readonly Dictionary<string, int> _lookup; // pieces as Latin-1 strings (one char per byte)
    private readonly MergeTable _merges;
    private readonly bool _splitAtSpaces;
    private readonly ConcurrentDictionary<string, int[]> _cache = new();
    private readonly SpecialTokenSettings _settings;
    private const int CacheCapacity = 100_000;
    private const int MaxCachedWordLength = 128;

    private Llama2cTokenizer(byte[][] pieces, float[] scores, int maxTokenLength, string source, SpecialTokenSettings settings)
    {
        Source = source;
        _pieces = pieces;
        _scores = scores;
        MaxTokenLength = maxTokenLength;
        _byteValue = new int[pieces.Length];
        Array.Fill(_byteToken, -1);
        for (var id = 0; id < pieces.Length; id++)
        {
            _byteValue[id] = ByteValueOf(id, pieces[id]);
            if (_byteValue[id] >= 0 && _byteToken[_byteValue[id]] < 0) _byteToken[_byteValue[id]] = id;
        }
        _settings = settings.Validated(pieces.Length, source);

        _lookup = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (var id = 0; id < pieces.Length; id++)
            if (IsMergeable(id)) _lookup.TryAdd(Encoding.Latin1.GetString(pieces[id]), id);

        // Every way a piece splits into two pieces is a merge; its rank orders by the piece's score, best first.
        var rankOfScore = scores.Distinct().OrderDescending().Select((score, rank) => (score, rank)).ToDictionary();
        _merges = new MergeTable(pieces.Length * 4);
        foreach (var (text, id) in _lookup)
            for (var cut = 1; cut < text.Length; cut++)
                if (_lookup.TryGetValue(text[..cut], out var left) && _lookup.TryGetValue(text[cut..], out var right))
                    _merges.Set(left, right, rankOfScore[scores[id]], id);
        _splitAtSpaces = SpaceBoundaries.VocabularyAllows(_lookup.Keys, ' ');
    }

    private Llama2cTokenizer(Llama2cTokenizer other, SpecialTokenSettings settings)
    {
        (Source, MaxTokenLength, _pieces, _scores, _byteValue, _byteToken) =
            (other.Source, other.MaxTokenLength, other._pieces, other._scores, other._byteValue, other._byteToken);
        (_lookup, _merges, _splitAtSpaces, _cache) = (other._lookup, other._merges, other._splitAtSpaces, other._cache);
        _settings = settings.Validated(_pieces.Length, Source);
    }

    public string Source { get; }

    public int MaxTokenLength { get; }

    public int VocabSize => _pieces.Length;

    public int? BosTokenId => _settings.BosTokenId;

    public int? EosTokenId => _settings.EosTokenId;

    public bool AddBosByDefault => _settings.AddBosByDefault;

    public float Score(int id) => _scores[CheckId(id)];

    /// <summary>The piece's bytes as stored in the file (spaces as ' ', control tokens as "\n&lt;s&gt;\n"), for exporters.</summary>
    public ReadOnlySpan<byte> StoredPiece(int id) => _pieces[CheckId(id)];

    /// <summary>The raw byte a byte-fallback token stands for, or -1 for any other token.</summary>
    public int ByteValue(int id) => _byteValue[CheckId(id)];

    /// <summary>The id of a piece written as Hugging Face names it: "&lt;s&gt;", "&lt;0x0A&gt;", "▁the".</summary>
    public int? TokenToId(string token)
    {
        if (ByteFallbackPiece(token) is { } value) return _byteToken[value] >= 0 ? _byteToken[value] : null;
        var bytes = Encoding.UTF8.GetBytes(token.Replace('▁', ' '));
        for (var id = 0; id < _pieces.Length; id++)
            if (_byteValue[id] < 0 && PieceText(id).AsSpan().SequenceEqual(bytes)) return id;
        return null;
    }

    /// <summary>Reads a tokenizer.bin; BOS 1, EOS 2 and add-BOS unless <paramref name="settings"/> says otherwise.</summary>
    public static Llama2cTokenizer Load(string path, SpecialTokenSettings? settings = null)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"tokenizer file {path} does not exist", path, e);
        }
        return Parse(data, path, settings);
    }

    public static Llama2cTokenizer Parse(ReadOnlySpan<byte> data, string source, SpecialTokenSettings? settings = null)
    {
        if (data.Length < 4) throw new InvalidDataException($"{source}: {data.Length} bytes is too short for the max_token_length header");
        var maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength <= 0) throw new InvalidDataException($"{source}: header max_token_length must be positive (got {maxTokenLength})");
        var pieces = new List<byte[]>(32000);
        var scores = new List<float>(32000);
        for (var offset = 4; offset < data.Length;)
        {
            if (offset + 8 > data.Length)
                throw new InvalidDataException($"{source}: token {pieces.Count} at byte {offset} is truncated (needs score and length)");
            var score = BinaryPrimitives.ReadSingleLittleEndian(data[offset..]);
            var length = BinaryPrimitives.ReadInt32LittleEndian(data[(offset + 4)..]);
            offset += 8;
            if (length < 0 || length > maxTokenLength || offset + length > data.Length)
                throw new InvalidDataException(
                    $"{source}: token {pieces.Count} at byte {offset - 8} has length {length}, expected 0..{maxTokenLength} within the file");
            pieces.Add(data.Slice(offset, length).ToArray());
            scores.Add(score);
            offset += length;
        }
        if (pieces.Count <= LlamaEosId) throw new InvalidDataException($"{source}: holds {pieces.Count} tokens, too few for a vocabulary");
        return new Llama2cTokenizer(pieces.ToArray(), scores.ToArray(), maxTokenLength, source,
            settings ?? new SpecialTokenSettings(LlamaBosId, LlamaEosId, AddBosByDefault: true));
    }

    /// <summary>The same vocabulary with other BOS/EOS settings (lookups, merges and cache are shared).</summary>
    public Llama2cTokenizer WithSettings(SpecialTokenSettings settings) => new(this, settings);

    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosTokenId is { } bos) ids.Add(bos);
        if (text.Length == 0) return ids.ToArray();
        var prefixed = " " + text; // SentencePiece's add_dummy_prefix
        if (_splitAtSpaces) SpaceBoundaries.Split(prefixed, ' ', (start, length) => EncodeWord(prefixed.Substring(start, length), ids));
        else EncodeWord(prefixed, ids);
        return ids.ToArray();
    }

    /// <summary>llama2.c's encode to the letter: the whole text merged as one sequence, no words, no cache.</summary>
    internal int[] EncodeAsOneSequence(string text)
    {
        var ids = new List<int>();
        if (text.Length > 0) MergeWord(" " + text, ids);
        return ids.ToArray();
    }

    private void EncodeWord(string word, List<int> output)
    {
        if (_cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var result = MergeWord(word, output);
        if (word.Length <= MaxCachedWordLength && _cache.Count < CacheCapacity) _cache.TryAdd(word, result);
    }

    private int[] MergeWord(string word, List<int> output)
    {
        var symbols = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length; i++)
        {
            var width = char.IsSurrogatePair(word, i) ? 2 : 1;
            var length = Encoding.UTF8.GetBytes(word.AsSpan(i, width), utf8);
            i += width - 1;
            if (_lookup.TryGetValue(Encoding.Latin1.GetString(utf8[..length]), out var id)) symbols.Add(id);
            else
                for (var k = 0; k < length; k++) symbols.Add(_byteToken[utf8[k]] is >= 0 and var b ? b : UnknownId);
        }
        var ids = symbols.ToArray();
        var count = BpeMerger.Merge(ids, _merges);
        var result = count == ids.Length ? ids : ids[..count];
        output.AddRange(result);
        return result;
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        for (var i = 0; i < ids.Length; i++)
        {
            var id = CheckId(ids[i]);
            if (_byteValue[id] >= 0)
            {
                bytes.Add((byte)_byteValue[id]);
                continue;
            }
            var piece = PieceText(id);
            // llama2.c drops the dummy-prefix space after BOS; SentencePiece at the start of the text.
            if ((i == 0 || ids[i - 1] == BosTokenId) && piece.Length > 0 && piece[0] == ' ') piece = piece[1..];
            bytes.AddRange(piece);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public string DecodeToken(int id)
    {
        CheckId(id);
        return _byteValue[id] >= 0 ? Encoding.UTF8.GetString([(byte)_byteValue[id]]) : Encoding.UTF8.GetString(PieceText(id));
    }

    /// <summary>Control tokens are stored as "\n&lt;s&gt;\n" for llama2.c's printing; they read as "&lt;s&gt;".</summary>
    private byte[] PieceText(int id) =>
        IsControl(id) ? Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(_pieces[id]).Trim('\n')) : _pieces[id];

    private bool IsControl(int id) => IsControlId(id) || id == BosTokenId || id == EosTokenId;

    private bool IsMergeable(int id) => _byteValue[id] < 0 && !IsControlId(id) && _pieces[id].Length > 0;

    // The settings are not known yet while the lookup is built, so the fixed SentencePiece control ids are used.
    private static bool IsControlId(int id) => id is UnknownId or LlamaBosId or LlamaEosId;

    private int CheckId(int id) =>
        (uint)id < (uint)_pieces.Length
            ? id
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in the vocabulary of {Source} (size {_pieces.Length})");

    /// <summary>"&lt;0x0A&gt;" anywhere, or (llama2.c's export) ids 3..258 holding byte id-3 as a Latin-1 character.</summary>
    private static int ByteValueOf(int id, byte[] piece)
    {
        if (piece.Length == 6 && ByteFallbackPiece(Encoding.ASCII.GetString(piece)) is { } hex) return hex;
        var candidate = id - 3;
        if (candidate is < 0 or > 255) return -1;
        var expected = Encoding.UTF8.GetBytes(((char)candidate).ToString());
        return piece.AsSpan().SequenceEqual(expected) ? candidate : -1;
    }

    private static byte? ByteFallbackPiece(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
        && byte.TryParse(text.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
}
