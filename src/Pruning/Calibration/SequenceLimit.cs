using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Calibration;

/// <summary>
/// One rule for every command: a sequence may not be longer than the model's max_position_embeddings. Rotary
/// positions past it were never trained (and Llama-3.1's scaled rotary is defined only up to it), so results there
/// are not what the model means; refusing is clearer than a warning that one command printed and others did not.
/// </summary>
public static class SequenceLimit
{
    /// <summary>A length set by a flag (<paramref name="what"/> names it, e.g. "--seq-len").</summary>
    public static void Check(int length, LlamaConfig config, string what)
    {
        if (length > config.MaxPositionEmbeddings)
            throw new ArgumentException($"{what} is {length} tokens, more than the model's max_position_embeddings {config.MaxPositionEmbeddings} " +
                                        $"(config.json); use at most {config.MaxPositionEmbeddings}");
    }

    /// <summary>Rows read from a token file (<paramref name="source"/> names it).</summary>
    public static void CheckRows(IReadOnlyList<int[]> rows, LlamaConfig config, string source)
    {
        for (var r = 0; r < rows.Count; r++)
            if (rows[r].Length > config.MaxPositionEmbeddings)
                throw new InvalidDataException($"{source}: row {r} has {rows[r].Length} tokens, more than the model's max_position_embeddings " +
                                               $"{config.MaxPositionEmbeddings} (config.json); cut the rows to at most {config.MaxPositionEmbeddings}");
    }
}
