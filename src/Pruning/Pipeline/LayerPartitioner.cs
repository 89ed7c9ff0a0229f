using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>
/// A node's share of the model: a contiguous layer range, with the embedding first and the head last; the schedule
/// it runs and the bytes it needs under that schedule (<see cref="EstimatedBytes"/>) and under each.
/// </summary>
public sealed record StageAssignment(int Node, int FirstLayer, int EndLayer, bool Embedding, bool Head, long EstimatedBytes,
    StageSchedule Schedule = StageSchedule.AllLayers, long AllLayersBytes = 0, long LayerBoundedBytes = 0)
{
    public StageExtent Extent(int matrixElementBytes) => new(FirstLayer, EndLayer, Embedding, Head, matrixElementBytes);
}

/// <summary>
/// Cuts the model into contiguous layer ranges sized by each node's memory budget (ARCHITECTURE.md, data flow 1),
/// counting each stage's real need under each schedule (<see cref="StageMemoryModel"/>: weights at their held
/// precision, tapes or kept layer inputs for the micro-batches in flight, gradients, the head, runtime). Every stage
/// runs the all-layers schedule when that fits everywhere; otherwise layers are cut by their layer-bounded need and
/// each stage, from the head down, keeps the faster schedule while it fits; once one stage must be layer-bounded, the
/// stages before it are too (they receive its deferred gradients).
/// </summary>
public static class LayerPartitioner
{
    /// <summary>The plan for a pass of this shape with matrices of <paramref name="matrixElementBytes"/> bytes, or a refusal saying what would fit.</summary>
    /// <param name="schedule">force one schedule on every stage; null chooses per stage</param>
    public static IReadOnlyList<StageAssignment> Plan(LlamaConfig config, IReadOnlyList<long> budgets, PassShape pass, int matrixElementBytes,
        StageSchedule? schedule = null) =>
        TryPlan(config, budgets, pass, matrixElementBytes, schedule)
        ?? throw new InvalidOperationException(DoesNotFit(config, budgets, pass, matrixElementBytes, schedule));

    /// <summary>As <see cref="Plan(LlamaConfig, IReadOnlyList{long}, PassShape, int, StageSchedule?)"/>, null when nothing fits.</summary>
    public static IReadOnlyList<StageAssignment>? TryPlan(LlamaConfig config, IReadOnlyList<long> budgets, PassShape pass, int matrixElementBytes,
        StageSchedule? schedule = null)
    {
        if (budgets.Count == 0) throw new ArgumentException("no nodes to place the model on");
        if (budgets.Any(b => b <= 0)) throw new ArgumentException("every node needs a positive memory budget");
        if (budgets.Count > config.NumHiddenLayers) throw new ArgumentException($"{budgets.Count} nodes for {config.NumHiddenLayers} layers: every node needs at least one layer");
        pass.Validated();
        var cost = new Costs(config, pass, matrixElementBytes, budgets.Count);
        if (schedule != StageSchedule.LayerBounded && Cut(cost, budgets, StageSchedule.AllLayers) is { } fast)
            return fast.Select((s, n) => cost.Assign(n, s, StageSchedule.AllLayers)).ToArray();
        if (schedule == StageSchedule.AllLayers || Cut(cost, budgets, StageSchedule.LayerBounded) is not { } cuts) return null;
        var result = new StageAssignment[cuts.Count];
        var bounded = schedule == StageSchedule.LayerBounded;
        for (var n = cuts.Count - 1; n >= 0; n--)
        {
            bounded |= cost.Need(n, cuts[n]).AllLayersBytes > budgets[n];
            result[n] = cost.Assign(n, cuts[n], bounded ? StageSchedule.LayerBounded : StageSchedule.AllLayers);
        }
        return result;
    }

    /// <summary>A refusal that says what the job needs and what would fit: more nodes, bigger budgets, the bounded schedule.</summary>
    public static string DoesNotFit(LlamaConfig config, IReadOnlyList<long> budgets, PassShape pass, int matrixElementBytes, StageSchedule? schedule)
    {
        var whole = StageMemoryModel.Need(config, new StageExtent(0, config.NumHiddenLayers, true, true, matrixElementBytes), pass);
        var offered = string.Join(" + ", budgets.Select(ByteSizes.Format));
        var text = $"the model does not fit: {budgets.Count} node(s) offer {offered}; in one process the job needs {ByteSizes.Format(whole.AllLayersBytes)} " +
                   $"(all-layers schedule) or {ByteSizes.Format(whole.LayerBoundedBytes)} (layer-bounded), of which weights {ByteSizes.Format(whole.WeightBytes)}";
        var least = MinimumEqualBudget(config, budgets.Count, pass, matrixElementBytes, schedule);
        text += least is { } b ? $"; {budgets.Count} node(s) of at least {ByteSizes.Format(b)} each would fit" : "";
        var nodes = schedule == StageSchedule.AllLayers ? null : MinimumNodes(config, budgets.Min(), pass, matrixElementBytes);
        if (nodes is { } k && k > budgets.Count) text += $", or {k} nodes of {ByteSizes.Format(budgets.Min())}";
        if (schedule == StageSchedule.AllLayers) text += "; the layer-bounded schedule needs less (--schedule auto or layer-bounded)";
        return text;
    }

    /// <summary>The smallest budget that, given to each of <paramref name="nodes"/> nodes, fits the job (null when no budget does).</summary>
    public static long? MinimumEqualBudget(LlamaConfig config, int nodes, PassShape pass, int matrixElementBytes, StageSchedule? schedule = null)
    {
        if (nodes > config.NumHiddenLayers) return null;
        long lo = 1, hi = StageMemoryModel.Need(config, new StageExtent(0, config.NumHiddenLayers, true, true, matrixElementBytes), pass).AllLayersBytes;
        if (TryPlan(config, Enumerable.Repeat(hi, nodes).ToArray(), pass, matrixElementBytes, schedule) is null) return null;
        while (hi - lo > (1L << 20))
        {
            var mid = lo + (hi - lo) / 2;
            if (TryPlan(config, Enumerable.Repeat(mid, nodes).ToArray(), pass, matrixElementBytes, schedule) is null) lo = mid;
            else hi = mid;
        }
        return hi;
    }

    /// <summary>The fewest nodes of <paramref name="budget"/> bytes each that fit the job (null when even one layer per node does not).</summary>
    public static int? MinimumNodes(LlamaConfig config, long budget, PassShape pass, int matrixElementBytes)
    {
        for (var k = 1; k <= config.NumHiddenLayers; k++)
            if (TryPlan(config, Enumerable.Repeat(budget, k).ToArray(), pass, matrixElementBytes) is not null) return k;
        return null;
    }

    /// <summary>
    /// Contiguous ranges, one per node: first layer counts in proportion to the budgets (stages of even speed), and
    /// when that overfills a node, each node filled as far as its budget allows. Null when a node would exceed its budget.
    /// </summary>
    private static List<(int First, int End)>? Cut(Costs cost, IReadOnlyList<long> budgets, StageSchedule schedule) =>
        Proportional(cost, budgets, schedule) ?? Fill(cost, budgets, schedule);

    private static List<(int First, int End)>? Proportional(Costs cost, IReadOnlyList<long> budgets, StageSchedule schedule)
    {
        var total = (double)budgets.Sum();
        var result = new List<(int, int)>();
        var next = 0;
        double share = 0;
        for (var n = 0; n < budgets.Count; n++)
        {
            share += budgets[n] / total;
            var mustLeave = budgets.Count - n - 1;
            var end = n == budgets.Count - 1 ? cost.Layers : Math.Clamp((int)Math.Round(share * cost.Layers), next + 1, cost.Layers - mustLeave);
            if (cost.Bytes(n, (next, end), schedule) > budgets[n]) return null;
            result.Add((next, end));
            next = end;
        }
        return result;
    }

    private static List<(int First, int End)>? Fill(Costs cost, IReadOnlyList<long> budgets, StageSchedule schedule)
    {
        var result = new List<(int, int)>();
        var next = 0;
        for (var n = 0; n < budgets.Count; n++)
        {
            var mustLeave = budgets.Count - n - 1; // one layer at least for each node still to come
            var end = next + 1;
            if (n == budgets.Count - 1) end = cost.Layers;
            else
                while (end < cost.Layers - mustLeave && cost.Bytes(n, (next, end + 1), schedule) <= budgets[n]) end++;
            if (cost.Bytes(n, (next, end), schedule) > budgets[n]) return null;
            result.Add((next, end));
            next = end;
        }
        return result;
    }

    /// <summary>Stage needs for one job shape, node n holding the embedding when first and the head when last.</summary>
    private sealed class Costs(LlamaConfig config, PassShape pass, int elementBytes, int nodes)
    {
        public int Layers => config.NumHiddenLayers;

        public StageNeed Need(int node, (int First, int End) range, bool? embedding = null, bool? head = null) =>
            StageMemoryModel.Need(config, new StageExtent(range.First, range.End, embedding ?? node == 0, head ?? node == nodes - 1, elementBytes), pass);

        public long Bytes(int node, (int First, int End) range, StageSchedule schedule, bool? embedding = null, bool? head = null) =>
            Need(node, range, embedding, head).BytesFor(schedule);

        public StageAssignment Assign(int node, (int First, int End) range, StageSchedule schedule)
        {
            var need = Need(node, range);
            return new StageAssignment(node, range.First, range.End, node == 0, node == nodes - 1, need.BytesFor(schedule), schedule,
                need.AllLayersBytes, need.LayerBoundedBytes);
        }
    }

    /// <summary>The earlier form: fp32 weights, a pass of <paramref name="inFlight"/> micro-batches.</summary>
    public static IReadOnlyList<StageAssignment> Plan(LlamaConfig config, IReadOnlyList<long> budgets, int microBatch, int positions, int inFlight) =>
        Plan(config, budgets, new PassShape(microBatch, positions, microBatch * inFlight, inFlight), 4);
}
