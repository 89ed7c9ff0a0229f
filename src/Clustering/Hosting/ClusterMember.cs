using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Akka.Remote.Transport.DotNetty;
using NirvanaCluster.Messages.Serialization;

namespace NirvanaCluster.Clustering.Hosting;

/// <summary>Who a cluster member is and how it reaches the others: the same shape for the coordinator and the nodes.</summary>
public sealed record ClusterMemberSettings
{
    public const string SystemName = "nirvana";
    public const string CoordinatorRole = "coordinator";
    public const string NodeRole = "node";

    public required string BindHost { get; init; }
    public required int Port { get; init; }
    /// <summary>The host name others use for this member; Akka matches addresses by this exact string.</summary>
    public required string PublicHost { get; init; }
    /// <summary>The coordinator's HOST:PORT as the coordinator advertises it (the seed of the cluster).</summary>
    public required string SeedHost { get; init; }
    public required int SeedPort { get; init; }
    public required string Role { get; init; }
    public required X509Certificate2 Certificate { get; init; }
    public FailureDetection Detection { get; init; } = FailureDetection.Default;
    public bool VerboseAkkaLogs { get; init; }

    public string SeedAddress => $"akka.ssl.tcp://{SystemName}@{SeedHost}:{SeedPort}";
}

/// <summary>
/// The Akka.NET configuration every cluster member shares: Akka.Remote over mutual TLS pinned to the cluster
/// certificate, Akka.Cluster with the coordinator as seed and a keep-oldest split-brain resolver tuned for seconds,
/// the protocol's Protobuf serializer, and Akka's logs through Serilog.
/// </summary>
public static class ClusterMember
{
    /// <summary>Scores of a big stage (hundreds of thousands of doubles) are the largest control message.</summary>
    public const int MaximumFrameBytes = 64 << 20;

    public static AkkaConfigurationBuilder Configure(this AkkaConfigurationBuilder builder, ClusterMemberSettings s)
    {
        builder
            .ConfigureCommon(s.VerboseAkkaLogs)
            .WithRemoting(new RemoteOptions
            {
                HostName = s.BindHost,
                Port = s.Port,
                PublicHostName = s.PublicHost,
                MaxFrameSize = MaximumFrameBytes,
                SendBufferSize = MaximumFrameBytes,
                ReceiveBufferSize = MaximumFrameBytes,
                EnableSsl = true,
                Ssl = new SslOptions
                {
                    X509Certificate = s.Certificate,
                    SuppressValidation = false,
                    RequireMutualAuthentication = true,
                    ValidateCertificateHostname = false,
                    // The cluster certificate is self-issued; trust comes from pinning it, not from a CA chain.
                    CustomValidator = CertificateValidation.PinnedCertificate(s.Certificate.Thumbprint),
                },
            })
            .WithClustering(new ClusterOptions
            {
                SeedNodes = [s.SeedAddress],
                Roles = [s.Role],
                SplitBrainResolver = new KeepOldestOption { DownIfAlone = false },
            })
            .AddHocon(Hocon(s), HoconAddMode.Prepend);
        return builder;
    }

    /// <summary>What the in-process placement shares with the cluster: serializer and logging (no network).</summary>
    public static AkkaConfigurationBuilder ConfigureCommon(this AkkaConfigurationBuilder builder, bool verboseLogs)
    {
        builder.ConfigureLoggers(l =>
        {
            l.ClearLoggers();
            l.AddLogger<Akka.Logger.Serilog.SerilogLogger>();
            l.LogLevel = verboseLogs ? Akka.Event.LogLevel.DebugLevel : Akka.Event.LogLevel.WarningLevel;
        });
        builder.WithCustomSerializer(ProtobufSerializer.Name, ProtobufSerializer.MessageTypes, system => new ProtobufSerializer(system));
        // The programs own SIGTERM/SIGINT and stop the host themselves, which runs the coordinated shutdown once.
        builder.AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend);
        return builder;
    }

    private static string Hocon(ClusterMemberSettings s)
    {
        var d = s.Detection;
        static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        return $$"""
            akka.cluster.failure-detector.heartbeat-interval = {{Ms(d.HeartbeatInterval)}}
            akka.cluster.failure-detector.acceptable-heartbeat-pause = {{Ms(d.AcceptableHeartbeatPause)}}
            akka.cluster.unreachable-nodes-reaper-interval = {{Ms(d.ReaperInterval)}}
            akka.cluster.split-brain-resolver.stable-after = {{Ms(d.StableAfter)}}
            akka.cluster.down-removal-margin = {{Ms(d.DownRemovalMargin)}}
            akka.cluster.sharding.passivate-idle-entity-after = off
            akka.cluster.sharding.retry-interval = 500ms
            akka.cluster.sharding.shard-start-timeout = 2s
            akka.cluster.sharding.rebalance-interval = 3600s
            # Stages hold nothing worth handing over (they are re-created from the checkpoint), so leaving is quick;
            # a node leaves after its coordinator did, when there is nobody left to hand anything to.
            akka.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout = {{(s.Role == ClusterMemberSettings.NodeRole ? "500ms" : "1s")}}
            akka.coordinated-shutdown.phases.cluster-leave.timeout = {{(s.Role == ClusterMemberSettings.NodeRole ? "500ms" : "1s")}}
            akka.coordinated-shutdown.phases.cluster-exiting.timeout = {{(s.Role == ClusterMemberSettings.NodeRole ? "500ms" : "2s")}}
            # Nodes are often started before the coordinator listens (a StatefulSet beside a Job): retry soon.
            akka.remote.retry-gate-closed-for = 1s
            akka.cluster.seed-node-timeout = 2s
            akka.cluster.retry-unsuccessful-join-after = 2s
            akka.remote.log-remote-lifecycle-events = off
            akka.cluster.log-info = off
            akka.log-dead-letters-during-shutdown = off
            akka.log-dead-letters = 0
            """;
    }
}
