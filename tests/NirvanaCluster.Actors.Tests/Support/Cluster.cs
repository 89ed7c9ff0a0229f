using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Messages.Registry;

namespace NirvanaCluster.Actors.Tests.Support;

/// <summary>Starts loopback actor systems on port 0 with a shared secret and fast failure detection.</summary>
public static class TestCluster
{
    public static readonly ClusterSecret Secret = ClusterSecret.FromString("test-cluster-secret-0123456789");

    /// <summary>
    /// Generous detection so a machine busy with other builds never fakes a failure; the failure-detection tests
    /// use <see cref="FastDetection"/>.
    /// </summary>
    public static RemotingOptions Options(ClusterSecret? secret = null) => new(secret ?? Secret)
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        UnreachableAfter = TimeSpan.FromSeconds(20),
    };

    public static RemotingOptions FastDetection(ClusterSecret? secret = null) => Options(secret) with
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(250),
        UnreachableAfter = TimeSpan.FromMilliseconds(1500),
    };

    /// <summary>The cluster protocol plus the test messages, all but <see cref="Unregistered"/>.</summary>
    public static MessageRegistry Registry() => ProtocolRegistry.CreateDefault()
        .Register(Ping.Descriptor)
        .Register(Pong.Descriptor)
        .Register(Shard.Descriptor)
        .Register(StopYourself.Descriptor);

    public static RemotingOptions Options(RemotingListener listener) => Options() with { Listener = listener };

    public static Task<ActorSystem> StartAsync(string name, LogCapture? log = null, RemotingOptions? options = null) =>
        ActorSystem.StartAsync(name, options ?? Options(), new ActorSystemOptions { Logger = log?.Logger ?? new LogCapture().Logger, Registry = Registry() });
}
