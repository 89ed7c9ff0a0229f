using System.Buffers.Binary;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Assets;

/// <summary>
/// The 7-int32 header of a legacy (version 0) llama2.c <c>model.bin</c>: dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size (negative when the classifier is not shared with the embedding), seq_len.
/// </summary>
public sealed record Llama2cHeader(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize,
    bool SharedClassifier, int SeqLen)
{
    public const int Bytes = 7 * sizeof(int);

    /// <summary>"ak42" read as a little-endian int32: the magic of llama2.c's later export versions.</summary>
    private const uint VersionedExportMagic = 0x616b3432;

    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>
    /// Float count of each array in file order; the legacy rotary tables included, wcls only when unshared.
    /// Throws <see cref="OverflowException"/> for sizes no file can have (caught by validation).
    /// </summary>
    public IEnumerable<(string Array, long Floats)> Arrays()
    {
        long d = Dim, f = HiddenDim, l = Layers, v = VocabSize, kv = KvDim;
        yield return ("token_embedding", checked(v * d));
        yield return ("rms_att", checked(l * d));
        yield return ("wq", checked(l * d * d));
        yield return ("wk", checked(l * kv * d));
        yield return ("wv", checked(l * kv * d));
        yield return ("wo", checked(l * d * d));
        yield return ("rms_ffn", checked(l * d));
        yield return ("w1", checked(l * f * d));
        yield return ("w2", checked(l * d * f));
        yield return ("w3", checked(l * f * d));
        yield return ("rms_final", d);
        yield return ("freq_cis_real", checked((long)SeqLen * HeadDim / 2));
        yield return ("freq_cis_imag", checked((long)SeqLen * HeadDim / 2));
        if (!SharedClassifier) yield return ("wcls", checked(v * d));
    }

    /// <summary>Byte offset of each array's first float in the file.</summary>
    public IReadOnlyDictionary<string, long> Offsets()
    {
        var offsets = new Dictionary<string, long>();
        var at = (long)Bytes;
        foreach (var (array, floats) in Arrays())
        {
            offsets[array] = at;
            at += floats * sizeof(float);
        }
        return offsets;
    }

    public long ExpectedFileBytes => Bytes + Arrays().Sum(a => a.Floats) * sizeof(float);

    /// <summary>The Hugging Face config of this model (Llama-2 architecture, llama2.c's fixed hyper-parameters).</summary>
    public LlamaConfig ToConfig() => new LlamaConfig
    {
        ModelType = "llama",
        HiddenSize = Dim,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        NumKeyValueHeads = KvHeads,
        IntermediateSize = HiddenDim,
        VocabSize = VocabSize,
        RmsNormEps = 1e-5f,
        RopeTheta = 10000f,
        TieWordEmbeddings = SharedClassifier,
        MaxPositionEmbeddings = SeqLen,
        BosTokenId = 1,
        EosTokenId = 2,
    }.Validated("llama2.c header");

    /// <summary>Reads and validates the header of <paramref name="path"/>, including the file's exact size.</summary>
    public static Llama2cHeader Read(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var length = RandomAccess.GetLength(file);
        if (length < Bytes)
            throw new InvalidDataException($"{path}: {length} bytes is too short for a llama2.c header ({Bytes} bytes)");
        var raw = new byte[Bytes];
        RandomAccess.Read(file, raw, 0);
        if (BinaryPrimitives.ReadUInt32LittleEndian(raw) == VersionedExportMagic)
            throw new InvalidDataException($"{path}: this is a versioned llama2.c export (magic 'ak42'); only the legacy " +
                                           "version-0 format (export.py --version 0, or the original run.c files) is supported");
        int Field(int i) => BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4 * i));
        var vocab = Field(5);
        var header = new Llama2cHeader(Field(0), Field(1), Field(2), Field(3), Field(4),
            vocab == int.MinValue ? 0 : Math.Abs(vocab), vocab > 0, Field(6));
        header.Validate(path);
        var expected = header.ExpectedFileBytes;
        if (length != expected)
            throw new InvalidDataException($"{path}: file is {length} bytes, but the header ({header.Describe()}) " +
                                           $"needs exactly {expected} bytes{(length < expected ? "; it is truncated" : "")}");
        return header;
    }

    private void Validate(string path)
    {
        void Require(bool ok, string field, string expected)
        {
            if (!ok) throw new InvalidDataException($"{path}: llama2.c header field '{field}' {expected} ({Describe()})");
        }
        Require(Dim > 0, "dim", "must be positive");
        Require(HiddenDim > 0, "hidden_dim", "must be positive");
        Require(Layers > 0, "n_layers", "must be positive");
        Require(Heads > 0 && Dim % Heads == 0, "n_heads", "must be positive and divide dim");
        Require(KvHeads > 0 && Heads % KvHeads == 0, "n_kv_heads", "must be positive and divide n_heads");
        Require(VocabSize > 0, "vocab_size", "must be non-zero");
        Require(SeqLen > 0, "seq_len", "must be positive");
        Require(HeadDim % 2 == 0, "dim", "divided by n_heads must be even (rotary pairs)");
        // Every array must be addressable: the largest, w1..w3 or the embedding, in floats within a long.
        try
        {
            _ = checked(Arrays().Aggregate(0L, (sum, a) => checked(sum + a.Floats * sizeof(float))));
        }
        catch (OverflowException)
        {
            Require(false, "dim", "and the other sizes describe a model too large to address");
        }
    }

    private string Describe() =>
        $"dim={Dim}, hidden_dim={HiddenDim}, n_layers={Layers}, n_heads={Heads}, n_kv_heads={KvHeads}, " +
        $"vocab_size={(SharedClassifier ? VocabSize : -VocabSize)}, seq_len={SeqLen}";
}
