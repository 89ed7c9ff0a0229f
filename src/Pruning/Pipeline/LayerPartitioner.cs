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

        var total = layerBytes.Sum() + embedBytes + headBytes;
        long FixedBytes(int n) => (n == 0 ? embedBytes : 0) + (n == nodes - 1 ? headBytes : 0);
        // First try shares proportional to the budgets (balanced pipeline stages); if that overfills a node,
        // fill each node as far as its budget allows instead.
        var cuts = Cut(n => (double)budgets[n] / budgets.Sum() * total) ?? Cut(n => budgets[n]);
        if (cuts is null)
            throw new InvalidOperationException(
                $"the model does not fit: the job needs about {Gib(total)} (largest layer {Gib(layerBytes.Max())}, embedding {Gib(embedBytes)}, head {Gib(headBytes)}) " +
                $"and {nodes} node(s) offer {string.Join(" + ", budgets.Select(Gib))}");
        return cuts;

        // Walks the layers in order, closing node n's range once its target is reached; null when a node would
        // exceed its budget.
        List<StageAssignment>? Cut(Func<int, double> target)
        {
            var result = new List<StageAssignment>();
            var next = 0;
            for (var n = 0; n < nodes; n++)
            {
                var used = FixedBytes(n);
                var end = next;
                var mustLeave = nodes - n - 1; // one layer at least for each node still to come
                while (end < layers - mustLeave && (n == nodes - 1 || end == next || used + layerBytes[end] <= target(n)))
                {
                    used += layerBytes[end];
                    end++;
                }
                if (used > budgets[n]) return null;
                result.Add(new StageAssignment(n, next, end, n == 0, n == nodes - 1, used));
                next = end;
            }
            return result;
        }
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
