using System.Text;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Coordinator.Commands;

/// <summary>
/// <c>nirvana prune ... --dry-run</c>: reads only config.json and prints the partition the job would use for its
/// placement (in-process under --memory or the available memory, --nodes N, or a planned cluster from
/// --plan-nodes): each stage's layers, its bytes under each schedule and the one it would run. When the model does
/// not fit it says so and what would: more nodes, bigger budgets, or the layer-bounded schedule. Exit code 0 when
/// it fits, 3 when it does not.
/// </summary>
public static class DryRun
{
    public const int DoesNotFitExitCode = 3;

    public sealed record Request(string ModelDir, ClusterOptions Placement, IReadOnlyList<long> PlanNodes, PassShape Pass);

    public static int Run(Request request, TextWriter output)
    {
        var configPath = Path.Combine(request.ModelDir, ConfigJson.FileName);
        var raw = ConfigJson.ReadObject(configPath);
        var config = ConfigJson.FromJson(raw, configPath);
        var elementBytes = MemoryPlan.MatrixElementBytes(raw);
        var (budgets, placement) = Budgets(request);
        var pass = request.Pass.Validated();
        var schedule = request.Placement.Schedule;

        var text = new StringBuilder();
        text.AppendLine($"dry run: {configPath}");
        text.AppendLine($"model: {config.ModelType}, {config.NumHiddenLayers} layers, D {config.HiddenSize}, H {config.NumAttentionHeads}, Hkv {config.NumKeyValueHeads}, " +
                        $"F {config.IntermediateSize}, V {config.VocabSize}{(config.TieWordEmbeddings ? ", tied" : "")}: {ParameterCounts.Of(config):N0} parameters, " +
                        $"matrices held at {elementBytes} bytes ({raw["torch_dtype"]?.GetValue<string>() ?? "no torch_dtype: assumed float32"})");
        text.AppendLine($"pass: {pass.Sequences} x {pass.Positions} tokens, micro-batch {pass.MicroBatch} ({pass.MicroBatches} micro-batches), {pass.InFlight} in flight" +
                        (pass.Gradient ? $", objective {pass.Objective}" : ", no gradient (the method needs none)"));
        text.AppendLine($"placement: {placement}; schedule {(schedule is { } s ? s.Name() : "auto (all-layers where it fits, else layer-bounded)")}");
        var plan = LayerPartitioner.TryPlan(config, budgets, pass, elementBytes, schedule);
        if (plan is not null)
        {
            Table(text, plan, budgets);
            var bounded = plan.Count(a => a.Schedule == StageSchedule.LayerBounded);
            text.AppendLine(bounded == 0
                ? "fits: every stage runs the all-layers schedule"
                : $"fits: {bounded} of {plan.Count} stage(s) run the layer-bounded schedule (it recomputes each layer's forward once more: slower than all-layers)");
            output.Write(text.ToString());
            return 0;
        }
        text.AppendLine("result: " + LayerPartitioner.DoesNotFit(config, budgets, pass, elementBytes, schedule));
        if (schedule == StageSchedule.AllLayers && LayerPartitioner.TryPlan(config, budgets, pass, elementBytes, StageSchedule.LayerBounded) is { } boundedPlan)
        {
            text.AppendLine("with --schedule layer-bounded (or auto) it would fit:");
            Table(text, boundedPlan, budgets);
        }
        var inProcess = request.Placement.InProcess && request.PlanNodes.Count == 0;
        if (inProcess)
        {
            var need = StageMemoryModel.Need(config, new StageExtent(0, config.NumHiddenLayers, true, true, elementBytes), pass);
            text.AppendLine($"in one process it needs --memory {Gib(need.LayerBoundedBytes)} (layer-bounded) or {Gib(need.AllLayersBytes)} (all-layers)");
        }
        foreach (var size in new[] { 24L << 30, 64L << 30, 80L << 30, 128L << 30 })
            if (LayerPartitioner.MinimumNodes(config, size, pass, elementBytes) is { } k && k > budgets.Count)
            {
                text.AppendLine($"it would fit on {k} node(s) of {ByteSizes.Format(size)} (--plan-nodes {k}x{size >> 30}Gi to see the partition)");
                break;
            }
        output.Write(text.ToString());
        return DoesNotFitExitCode;
    }

    private static (IReadOnlyList<long> Budgets, string Description) Budgets(Request r)
    {
        if (r.PlanNodes.Count > 0)
            return (r.PlanNodes, $"{r.PlanNodes.Count} planned node(s) (--plan-nodes): {Describe(r.PlanNodes)}");
        if (r.Placement.LocalNodes is { } n)
        {
            var each = MemoryPlan.LocalNodeBudget(n);
            return (Enumerable.Repeat(each, n).ToArray(), $"{n} local node process(es) (--nodes) of {ByteSizes.Format(each)} each (80% of the available memory, shared)");
        }
        if (!r.Placement.InProcess)
            throw new ArgumentException("--dry-run with --listen/--expect-nodes cannot know the nodes' budgets before they join; give them with --plan-nodes");
        var budget = r.Placement.MemoryBudget ?? MemoryPlan.AvailableBytes();
        return ([budget], $"in-process, budget {ByteSizes.Format(budget)} ({(r.Placement.MemoryBudget is null ? "this machine's available memory" : "--memory")})");
    }

    private static void Table(StringBuilder text, IReadOnlyList<StageAssignment> plan, IReadOnlyList<long> budgets)
    {
        text.AppendLine($"{"stage",-6} {"layers",-12} {"holds",-18} {"all-layers",12} {"layer-bounded",14} {"budget",12}  schedule");
        foreach (var a in plan)
        {
            var holds = string.Join(" + ", new[] { a.Embedding ? "embedding" : null, a.Head ? "head" : null }.Where(x => x is not null));
            text.AppendLine($"{a.Node,-6} {$"[{a.FirstLayer}, {a.EndLayer})",-12} {(holds.Length == 0 ? "-" : holds),-18} {Gib(a.AllLayersBytes),12} " +
                            $"{Gib(a.LayerBoundedBytes),14} {Gib(budgets[a.Node]),12}  {a.Schedule.Name()}");
        }
    }

    private static string Describe(IReadOnlyList<long> budgets) =>
        string.Join(" ", budgets.GroupBy(b => b).Select(g => g.Count() == 1 ? ByteSizes.Format(g.Key) : $"{g.Count()}x{ByteSizes.Format(g.Key)}"));

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2}Gi";
}
