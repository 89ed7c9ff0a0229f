namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>Where the node actors run: in this process (default), N local processes, or nodes that join from elsewhere.</summary>
public sealed record ClusterOptions
{
    public int? LocalNodes { get; init; }
    public string? Listen { get; init; }
    public int? ExpectNodes { get; init; }
    public string? SecretFile { get; init; }
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public bool SharedOutput { get; init; }
    /// <summary>In-process: the budget for this process's peak resident memory (null: the machine's available memory).</summary>
    public long? MemoryBudget { get; init; }
    /// <summary>Force one schedule on every stage; null lets each stage's budget choose.</summary>
    public Pruning.Pipeline.StageSchedule? Schedule { get; init; }

    public bool InProcess => LocalNodes is null && Listen is null;

    public ClusterOptions Validated()
    {
        if (LocalNodes is { } n && n < 1) throw new ArgumentException($"--nodes must be at least 1 (got {n})");
        if (LocalNodes is not null && (Listen is not null || ExpectNodes is not null))
            throw new ArgumentException("--nodes starts local nodes; it cannot be combined with --listen / --expect-nodes");
        if ((Listen is null) != (ExpectNodes is null)) throw new ArgumentException("--listen and --expect-nodes go together");
        if (ExpectNodes is { } e && e < 1) throw new ArgumentException($"--expect-nodes must be at least 1 (got {e})");
        if (JoinTimeout <= TimeSpan.Zero) throw new ArgumentException("--join-timeout must be positive");
        if (HeartbeatTimeout < TimeSpan.FromSeconds(1)) throw new ArgumentException("--heartbeat-timeout must be at least 1 second");
        if (SharedOutput && InProcess) throw new ArgumentException("--shared-output needs nodes (--nodes or --listen/--expect-nodes)");
        if (MemoryBudget is not null && !InProcess) throw new ArgumentException("--memory budgets this process; with nodes, each node has its own (nirvana-node --memory)");
        return this;
    }
}
