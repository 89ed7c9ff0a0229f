using System.CommandLine;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>The memory options of the commands that run the pipeline: a budget, a schedule, and planning without running.</summary>
public sealed class MemoryFlags(bool planning)
{
    private readonly Option<string?> _memory = new("--memory")
    {
        Description = "In-process: budget for this process's peak resident memory (runtime included), e.g. 24Gi or 2500M; " +
                      "K, M, G, T are powers of 1000 (1G = 10^9 bytes), Ki, Mi, Gi, Ti powers of 1024 (1Gi = 2^30 bytes). " +
                      "Default: the machine's available memory. A budget nothing fits is refused up front with the minimum needed",
    };
    private readonly Option<string> _schedule = new("--schedule")
    {
        Description = "Backward schedule of each stage: auto (all-layers where it fits the budget, else layer-bounded) | all-layers (faster: " +
                      "a gradient per layer for the whole pass) | layer-bounded (at most one layer's gradient: recomputes each layer's forward)",
        DefaultValueFactory = _ => "auto",
    };
    private readonly Option<bool> _dryRun = new("--dry-run")
    {
        Description = "Read only config.json and print the partition this job would use: each stage's layers, its bytes under each schedule " +
                      "and the schedule it would pick; says when the model does not fit and what would",
    };
    private readonly Option<string[]> _planNodes = new("--plan-nodes")
    {
        Description = "With --dry-run: plan for a cluster you do not have (yet): node memory sizes, e.g. 8x64Gi or 64Gi 64Gi 32Gi",
        AllowMultipleArgumentsPerToken = true,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_memory);
        if (!planning) return;
        command.Options.Add(_schedule);
        command.Options.Add(_dryRun);
        command.Options.Add(_planNodes);
    }

    /// <summary>The placement with the budget and the schedule set.</summary>
    public ClusterOptions Apply(ClusterOptions placement, ParseResult parse) => (placement with
    {
        MemoryBudget = parse.GetValue(_memory) is { } m ? ByteSizes.Parse(m, "--memory") : null,
        Schedule = planning ? ParseSchedule(parse.GetValue(_schedule)!) : null,
    }).Validated();

    public bool DryRun(ParseResult parse) => planning && parse.GetValue(_dryRun);

    /// <summary>--plan-nodes as byte budgets (empty when not given); refused without --dry-run.</summary>
    public IReadOnlyList<long> PlanNodes(ParseResult parse)
    {
        var items = planning ? parse.GetValue(_planNodes) ?? [] : [];
        if (items.Length > 0 && !DryRun(parse)) throw new ArgumentException("--plan-nodes plans a cluster that is not there; it needs --dry-run");
        return ParseNodes(items);
    }

    /// <summary>Parses node sizes: "SIZE" or "COUNTxSIZE" per item (8x64Gi is eight nodes of 64 GiB).</summary>
    public static IReadOnlyList<long> ParseNodes(IEnumerable<string> items)
    {
        var budgets = new List<long>();
        foreach (var item in items.SelectMany(i => i.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)))
        {
            var x = item.IndexOfAny(['x', 'X']);
            if (x > 0 && int.TryParse(item[..x], out var count))
            {
                if (count < 1) throw new ArgumentException($"--plan-nodes: '{item}' asks for {count} nodes");
                budgets.AddRange(Enumerable.Repeat(ByteSizes.Parse(item[(x + 1)..], "--plan-nodes"), count));
            }
            else budgets.Add(ByteSizes.Parse(item, "--plan-nodes"));
        }
        return budgets;
    }

    public static StageSchedule? ParseSchedule(string text) =>
        text.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : StageSchedules.Parse(text, "--schedule");
}
