namespace NirvanaCluster.Engine.Tokenizers;

/// <summary>The ids a model treats as beginning and end of text, and whether encoding adds the former.</summary>
public sealed record SpecialTokenSettings(int? BosTokenId, int? EosTokenId, bool AddBosByDefault)
{
    public SpecialTokenSettings Validated(int vocabSize, string source)
    {
        if (BosTokenId is { } bos && (bos < 0 || bos >= vocabSize))
            throw new InvalidDataException($"{source}: bos token id {bos} lies outside the vocabulary [0, {vocabSize})");
        if (EosTokenId is { } eos && (eos < 0 || eos >= vocabSize))
            throw new InvalidDataException($"{source}: eos token id {eos} lies outside the vocabulary [0, {vocabSize})");
        if (AddBosByDefault && BosTokenId is null)
            throw new InvalidDataException($"{source}: add_bos_token is true but no bos token is known");
        return this;
    }
}
