using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>A node's share of the model: a contiguous layer range, with the embedding first and the head last.</summary>
public sealed record StageAssignment(int Node, int FirstLayer, int EndLayer, bool Embedding, bool Head, long EstimatedBytes);

/// <summary>
/// Cuts the model into contiguous layer ranges sized by each node's memory budget (ARCHITECTURE.md, data flow 1).
/// A node's estimate counts fp32 weights, gradient accumulators for its projections, and the tapes of the
/// micro-batches it keeps in flight; the first node adds the embedding, the last the final norm, lm_head and a
/// sequence's logits.
/// </summary>
public static class LayerPartitioner
{
    public static IReadOnlyList<StageAssignment> Plan(LlamaConfig config, IReadOnlyList<long> budgets, int microBatch, int positions, int inFlight)
    {
        if (budgets.Count == 0) throw new ArgumentException("no nodes to place the model on");
        if (budgets.Any(b => b <= 0)) throw new ArgumentException("every node needs a positive memory budget");
        int layers = config.NumHiddenLayers, nodes = budgets.Count;
        if (nodes > layers) throw new ArgumentException($"{nodes} nodes for {layers} layers: every node needs at least one layer");
        var layerBytes = Enumerable.Range(0, layers).Select(i => LayerBytes(config, i, microBatch, positions, inFlight)).ToArray();
        var embedBytes = 4L * config.VocabSize * config.HiddenSize;
        var headBytes = (config.TieWordEmbeddings ? embedBytes : 4L * config.VocabSize * config.HiddenSize)
                        + 4L * config.HiddenSize + 4L * positions * config.VocabSize * 2;

        // Fill nodes in order, giving each layers in proportion to its budget but never past it, and leaving
        // at least one layer for every node still to come.
        var total = layerBytes.Sum() + embedBytes + headBytes;
        var assignments = new List<StageAssignment>();
        var next = 0;
        for (var n = 0; n < nodes; n++)
        {
            var fixedBytes = (n == 0 ? embedBytes : 0) + (n == nodes - 1 ? headBytes : 0);
            var remainingNodes = nodes - n - 1;
            var share = (double)budgets[n] / budgets.Skip(n).Sum() * (layerBytes.Skip(next).Sum() + fixedBytes);
            var used = fixedBytes;
            var end = next;
            while (end < layers - remainingNodes && (end == next || used + layerBytes[end] <= Math.Max(share, 0) || n == nodes - 1))
            {
                if (n < nodes - 1 && end > next && used + layerBytes[end] > budgets[n]) break;
                used += layerBytes[end];
                end++;
            }
            if (used > budgets[n])
                throw new InvalidOperationException(
                    $"the model does not fit: node {n} would need {Gib(used)} for layers [{next}, {end}) but offers {Gib(budgets[n])}; " +
                    $"the whole job needs about {Gib(total)} across nodes offering {Gib(budgets.Sum())}");
            assignments.Add(new StageAssignment(n, next, end, n == 0, n == nodes - 1, used));
            next = end;
        }
        return assignments;
    }

    /// <summary>Bytes one layer costs a node during scoring.</summary>
    public static long LayerBytes(LlamaConfig config, int layer, int microBatch, int positions, int inFlight)
    {
        long d = config.HiddenSize, qw = (long)config.HeadsOf(layer) * config.HeadDim, kvw = (long)config.KvHeadsOf(layer) * config.HeadDim, f = config.FfnOf(layer);
        long n = (long)microBatch * positions;
        var parameters = ParameterCounts.Layer(config, layer);
        var tapeFloats = n * (5 * d + 2 + 2 * qw + 2 * kvw + 3 * f) + (long)microBatch * config.HeadsOf(layer) * positions * positions;
        return 4 * (2 * parameters + tapeFloats * (inFlight + 1));
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}
