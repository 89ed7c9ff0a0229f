namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// What a <c>tokenizer.json</c> says, parsed and checked: the BPE model, added tokens and the pipeline steps.
/// <see cref="TemplateBosToken"/> is the special token a TemplateProcessing post-processor puts first, if any.
/// </summary>
public sealed record HfTokenizerDefinition(
    string Source,
    BpeModelDefinition Model,
    IReadOnlyList<AddedToken> AddedTokens,
    INormalizer? Normalizer,
    IPreTokenizer? PreTokenizer,
    ITokenDecoder? Decoder,
    string? TemplateBosToken = null);
