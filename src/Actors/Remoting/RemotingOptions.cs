namespace NirvanaCluster.Actors.Remoting;

/// <summary>What accepts inbound connections. Outbound connections always use plain sockets.</summary>
public enum RemotingListener
{
    /// <summary>A plain socket with 1 MiB stream pipes: the fast default for bulk tensors.</summary>
    Sockets,

    /// <summary>ASP.NET Core Kestrel's socket transport with a raw connection delegate (measured slower; see README).</summary>
    Kestrel,
}

/// <summary>
/// How an actor system listens, authenticates and frames its remote traffic. Each field is checked as it is set;
/// <see cref="Validate"/> checks them against each other when the system starts.
/// </summary>
public sealed record RemotingOptions
{
    public const int DefaultMaxFrameBytes = 64 << 20;
    public const int DefaultTensorChunkBytes = 1 << 20;

    private int _port;
    private int _maxFrameBytes = DefaultMaxFrameBytes;
    private int _tensorChunkBytes = DefaultTensorChunkBytes;
    private long _maxTensorBytes = int.MaxValue;

    public RemotingOptions(ClusterSecret secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        Secret = secret;
    }

    public ClusterSecret Secret { get; init; }

    /// <summary>What accepts inbound connections.</summary>
    public RemotingListener Listener { get; init; } = RemotingListener.Sockets;

    /// <summary>TLS for every connection (accepted and dialed); null for plain TCP. All members must agree.</summary>
    public RemotingTls? Tls { get; init; }

    /// <summary>IP address or host name to listen on; 0.0.0.0 for all interfaces.</summary>
    public string BindHost { get; init; } = "127.0.0.1";

    /// <summary>Port to listen on; 0 picks a free one (read it back from ActorSystem.Address).</summary>
    public int Port { get => _port; init => _port = value is >= 0 and <= 65535 ? value : throw new ArgumentOutOfRangeException(nameof(Port), value, "Port must be within 0..65535"); }

    /// <summary>The host others reach this system at (e.g. a pod's DNS name); defaults to <see cref="BindHost"/>.</summary>
    public string? PublicHost { get; init; }

    /// <summary>Largest frame accepted; a bigger length prefix closes the connection.</summary>
    public int MaxFrameBytes { get => _maxFrameBytes; init => _maxFrameBytes = value >= 64 << 10 ? value : throw new ArgumentOutOfRangeException(nameof(MaxFrameBytes), value, "MaxFrameBytes must be at least 64 KiB"); }

    /// <summary>Bytes per tensor chunk; must fit in a frame with its header.</summary>
    public int TensorChunkBytes { get => _tensorChunkBytes; init => _tensorChunkBytes = value >= 4096 ? value : throw new ArgumentOutOfRangeException(nameof(TensorChunkBytes), value, "TensorChunkBytes must be at least 4096"); }

    /// <summary>Largest single tensor accepted (at most 2 GiB; split bigger tensors by rows).</summary>
    public long MaxTensorBytes { get => _maxTensorBytes; init => _maxTensorBytes = value is > 0 and <= int.MaxValue ? value : throw new ArgumentOutOfRangeException(nameof(MaxTensorBytes), value, "MaxTensorBytes must be within 1..2^31-1"); }

    /// <summary>Most tensors one message may carry.</summary>
    public int MaxTensorsPerMessage { get; init; } = 4096;

    /// <summary>How often each connection sends a heartbeat when idle.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A peer silent this long is declared unreachable; detection takes at most this plus one interval.</summary>
    public TimeSpan UnreachableAfter { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Time allowed for a peer to complete the handshake.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed to open an outbound TCP connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>This node's identity in the cluster; defaults to the system name.</summary>
    public string? NodeId { get; init; }

    /// <summary>Memory this node may use for its shard, announced when it joins.</summary>
    public long MemoryBudgetBytes { get; init; }

    /// <summary>Compute device announced when joining, e.g. "cpu" or "cuda:0".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Cross-field checks; the actor system calls this before listening.</summary>
    public void Validate()
    {
        if (TensorChunkBytes > MaxFrameBytes - 64)
            throw new ArgumentException($"TensorChunkBytes ({TensorChunkBytes}) must leave room for the chunk header within MaxFrameBytes ({MaxFrameBytes})");
        if (HeartbeatInterval <= TimeSpan.Zero)
            throw new ArgumentException($"HeartbeatInterval must be positive, got {HeartbeatInterval}");
        if (UnreachableAfter < 2 * HeartbeatInterval)
            throw new ArgumentException($"UnreachableAfter ({UnreachableAfter}) must be at least two heartbeat intervals ({2 * HeartbeatInterval})");
        if (HandshakeTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentException("HandshakeTimeout and ConnectTimeout must be positive");
        if (MaxTensorsPerMessage < 1)
            throw new ArgumentException($"MaxTensorsPerMessage must be at least 1, got {MaxTensorsPerMessage}");
        if (MemoryBudgetBytes < 0)
            throw new ArgumentException($"MemoryBudgetBytes must not be negative, got {MemoryBudgetBytes}");
        if (string.IsNullOrWhiteSpace(BindHost))
            throw new ArgumentException("BindHost must name an address or host to listen on");
    }
}
