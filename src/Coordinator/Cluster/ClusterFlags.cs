using System.CommandLine;
using NirvanaCluster.Clustering.Hosting;
using NirvanaCluster.Coordinator.Cli;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>The options that place a job's stages; shared by the commands that run the pipeline.</summary>
public sealed class ClusterFlags
{
    private readonly Option<int?> _nodes = NumberOption.OptionalInt("--nodes", "Start N local nirvana-node processes on loopback and split the model across them (at most one per layer)");
    private readonly Option<string?> _listen = new("--listen") { Description = "Coordinator Akka.Remote endpoint HOST:PORT that nodes started elsewhere join (with --expect-nodes)" };
    private readonly Option<string?> _advertise = new("--advertise") { Description = "Host name the nodes use for this coordinator, exactly as in their --coordinator (default: the --listen host)" };
    private readonly Option<int?> _expectNodes = NumberOption.OptionalInt("--expect-nodes", "Wait for N nodes to join --listen before starting");
    private readonly Option<int> _dataPort = NumberOption.Int("--data-port", "Port of this coordinator's data-plane listener, where compacted weights arrive (0 picks one)", 0);
    private readonly Option<int> _joinTimeout = NumberOption.Int("--join-timeout", "Seconds to wait for the nodes to join", 120);
    private readonly Option<string?> _certificate = new("--certificate") { Description = $"Cluster certificate for --listen: PFX, or PEM with its key (or a folder with tls.crt and tls.key); else {ClusterCertificate.PathVariable}. --nodes makes a throwaway one" };
    private readonly Option<bool> _sharedOutput = new("--shared-output") { Description = "Nodes write their compacted shard files straight into the output folder (shared storage)" };
    private readonly Option<int> _maxRecoveries = NumberOption.Int("--max-recoveries", "Lost nodes a job survives: each one's stage is re-created on a node with room and the lost work redone (0: the first loss ends the job)", 3);
    private readonly Option<int> _rejoinTimeout = NumberOption.Int("--rejoin-timeout", "Seconds to wait for a node with room for a lost stage (a surviving one, a restarted pod, or with --nodes a replacement process)", 120);
    private readonly Option<double> _heartbeatTimeout = NumberOption.Double("--heartbeat-timeout", "Seconds of silence after which a node counts as unreachable", FailureDetection.Default.AcceptableHeartbeatPause.TotalSeconds);

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _nodes, _listen, _advertise, _expectNodes, _dataPort, _joinTimeout, _certificate, _sharedOutput, _heartbeatTimeout, _maxRecoveries, _rejoinTimeout })
            command.Options.Add(option);
    }

    public ClusterOptions Read(ParseResult parse) => new ClusterOptions
    {
        LocalNodes = parse.GetValue(_nodes),
        Listen = parse.GetValue(_listen),
        Advertise = parse.GetValue(_advertise),
        ExpectNodes = parse.GetValue(_expectNodes),
        DataPort = parse.GetValue(_dataPort),
        JoinTimeout = TimeSpan.FromSeconds(parse.GetValue(_joinTimeout)),
        CertificateFile = parse.GetValue(_certificate),
        SharedOutput = parse.GetValue(_sharedOutput),
        HeartbeatTimeout = TimeSpan.FromSeconds(parse.GetValue(_heartbeatTimeout)),
        MaxRecoveries = parse.GetValue(_maxRecoveries),
        RejoinTimeout = TimeSpan.FromSeconds(parse.GetValue(_rejoinTimeout)),
        VerboseAkkaLogs = parse.GetValue(Cli.CliHost.Verbose),
    }.Validated();
}
