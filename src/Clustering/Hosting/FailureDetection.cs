namespace NirvanaCluster.Clustering.Hosting;

/// <summary>
/// How fast a lost member is noticed and removed. Akka's defaults take ~50 s from SIGKILL to a re-allocated shard;
/// a pruning job wants seconds. On loopback these defaults mark a killed member unreachable in under 3 s and down
/// it (keep-oldest split-brain resolver: the coordinator, the oldest member, always survives) about 2.5 s later.
/// A longer <see cref="AcceptableHeartbeatPause"/> (--heartbeat-timeout) tolerates long GC pauses on busy machines.
/// </summary>
public sealed record FailureDetection
{
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(400);
    public TimeSpan AcceptableHeartbeatPause { get; init; } = TimeSpan.FromSeconds(1.8);
    /// <summary>How often the failure detector's verdicts are collected (Akka's default, 1 s, adds up to a second).</summary>
    public TimeSpan ReaperInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(2.5);
    public TimeSpan DownRemovalMargin { get; init; } = TimeSpan.FromSeconds(0.5);

    public static FailureDetection Default { get; } = new();

    /// <summary>How long after a member goes silent the failure detector has certainly said so.</summary>
    public TimeSpan VerdictWithin => AcceptableHeartbeatPause + 2 * HeartbeatInterval + ReaperInterval + TimeSpan.FromSeconds(1);

    /// <summary>A pause of <paramref name="pause"/> before a silent member counts as unreachable; the rest follows from it.</summary>
    public static FailureDetection WithPause(TimeSpan pause) => new()
    {
        AcceptableHeartbeatPause = pause,
        HeartbeatInterval = TimeSpan.FromMilliseconds(Math.Clamp(pause.TotalMilliseconds / 4.5, 200, 1000)),
        StableAfter = TimeSpan.FromMilliseconds(Math.Max(2000, pause.TotalMilliseconds * 2)),
    };
}
