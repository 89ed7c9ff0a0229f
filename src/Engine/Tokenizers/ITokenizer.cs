namespace NirvanaCluster.Engine.Tokenizers;

/// <summary>
/// Text to token ids and back for one model's vocabulary. Implementations are thread-safe.
/// <see cref="Decode"/> renders special tokens by their text (Hugging Face's default,
/// <c>skip_special_tokens=False</c>) and drops the dummy-prefix space SentencePiece vocabularies add at the start.
/// </summary>
public interface ITokenizer
{
    /// <summary>One past the highest token id (added tokens included); the model's embedding may be larger.</summary>
    int VocabSize { get; }

    int? BosTokenId { get; }

    int? EosTokenId { get; }

    /// <summary>Whether the model expects <see cref="BosTokenId"/> in front of a text (Llama: yes; Qwen2.5: no).</summary>
    bool AddBosByDefault { get; }

    /// <summary>Token ids of <paramref name="text"/>, after <see cref="BosTokenId"/> when <paramref name="addBos"/>
    /// (and the vocabulary has one). Special tokens written in the text become their ids.</summary>
    int[] Encode(string text, bool addBos);

    string Decode(ReadOnlySpan<int> ids);

    /// <summary>The text of one token as it reads inside a sequence: "▁Hello" is " Hello"; a token holding part
    /// of a UTF-8 character yields U+FFFD (use <see cref="StreamingDecoder"/> to print generated text).</summary>
    string DecodeToken(int id);
}
