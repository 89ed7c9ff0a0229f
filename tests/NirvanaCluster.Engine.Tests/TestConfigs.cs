using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests;

public static class TestConfigs
{
    /// <summary>A few-hundred-parameter Llama for gradient checks.</summary>
    public static LlamaConfig Tiny() => new()
    {
        HiddenSize = 16,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        IntermediateSize = 10,
        VocabSize = 17,
        RmsNormEps = 1e-5f,
    };
}
