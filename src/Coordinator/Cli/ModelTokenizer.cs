using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tokenizers;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>A model's tokenizer, refused up front when it can produce ids the model has no embedding for.</summary>
public static class ModelTokenizer
{
    public static ITokenizer Load(string modelDir, LlamaConfig config)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{modelDir}: the tokenizer has {tokenizer.VocabSize} tokens but config.json field 'vocab_size' is " +
                                           $"{config.VocabSize}; ids from {config.VocabSize} on would have no embedding (wrong tokenizer for this model?)");
        return tokenizer;
    }
}
