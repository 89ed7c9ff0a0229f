using NirvanaCluster.Clustering.Hosting;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>Where the stages run: in this process (default), N local node processes, or nodes that join from elsewhere.</summary>
public sealed record ClusterOptions
{
    public int? LocalNodes { get; init; }
    public string? Listen { get; init; }
    /// <summary>The host name nodes use for the coordinator (Akka matches it exactly); default: the --listen host.</summary>
    public string? Advertise { get; init; }
    public int? ExpectNodes { get; init; }
    public string? CertificateFile { get; init; }
    /// <summary>Port of the coordinator's data-plane listener (compacted weights come back through it); 0 picks one.</summary>
    public int DataPort { get; init; }
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan HeartbeatTimeout { get; init; } = FailureDetection.Default.AcceptableHeartbeatPause;
    public bool SharedOutput { get; init; }
    /// <summary>How many lost nodes a job survives (their stages re-created elsewhere); 0 fails on the first loss.</summary>
    public int MaxRecoveries { get; init; } = 3;
    /// <summary>How long to wait for a node with room for a lost stage to join.</summary>
    public TimeSpan RejoinTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public bool VerboseAkkaLogs { get; init; }
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
        if (HeartbeatTimeout < TimeSpan.FromSeconds(0.5) || HeartbeatTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentException($"--heartbeat-timeout must be between 0.5 and 600 seconds (got {HeartbeatTimeout.TotalSeconds})");
        if (SharedOutput && InProcess) throw new ArgumentException("--shared-output needs nodes (--nodes or --listen/--expect-nodes)");
        if (MaxRecoveries < 0) throw new ArgumentException($"--max-recoveries must be 0 or more (got {MaxRecoveries})");
        if (RejoinTimeout <= TimeSpan.Zero) throw new ArgumentException("--rejoin-timeout must be positive");
        if (DataPort is < 0 or > 65535) throw new ArgumentException($"--data-port must be a port number (got {DataPort})");
        if (Advertise is not null && Listen is null) throw new ArgumentException("--advertise names the --listen endpoint's host; give --listen too");
        if (MemoryBudget is not null && !InProcess) throw new ArgumentException("--memory budgets this process; with nodes, each node has its own (nirvana-node --memory)");
        return this;
    }

    /// <summary>
    /// What can be checked against the model before any node process starts: each node holds at least one layer,
    /// so more nodes than layers is refused (`--nodes 1000` on a 2-layer model used to start processes first).
    /// </summary>
    public ClusterOptions ValidatedFor(Engine.Model.LlamaConfig config)
    {
        Validated();
        var layers = config.NumHiddenLayers;
        if (LocalNodes is { } n && n > layers)
            throw new ArgumentException($"--nodes {n}: the model has {layers} layer(s) and each node holds at least one; use --nodes 1 to {layers}");
        if (ExpectNodes is { } e && e > layers)
            throw new ArgumentException($"--expect-nodes {e}: the model has {layers} layer(s) and each node holds at least one; expect at most {layers}");
        return this;
    }
}
