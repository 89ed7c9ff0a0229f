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
