namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// An entry of <c>added_tokens</c>: text matched as one token before pre-tokenization. <see cref="Normalized"/>
/// ones are looked for in the normalized text, the others in the raw input; <see cref="LStrip"/>/<see cref="RStrip"/>
/// swallow adjacent whitespace; <see cref="SingleWord"/> requires word boundaries on both sides.
/// </summary>
public sealed record AddedToken(
    int Id,
    string Content,
    bool Special = true,
    bool Normalized = false,
    bool LStrip = false,
    bool RStrip = false,
    bool SingleWord = false);
