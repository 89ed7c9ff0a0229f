using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>The options that place a job's node actors; shared by the commands that run the pipeline.</summary>
public sealed class ClusterFlags
{
    private readonly Option<int?> _nodes = NumberOption.OptionalInt("--nodes", "Start N local nirvana-node processes on loopback and split the model across them (at most one per layer)");
    private readonly Option<string?> _listen = new("--listen") { Description = "Coordinator endpoint HOST:PORT that nodes started elsewhere join (with --expect-nodes)" };
    private readonly Option<int?> _expectNodes = NumberOption.OptionalInt("--expect-nodes", "Wait for N nodes to join --listen before starting");
    private readonly Option<int> _joinTimeout = NumberOption.Int("--join-timeout", "Seconds to wait for the nodes to join", 120);
    private readonly Option<string?> _secretFile = new("--secret-file") { Description = "File holding the cluster secret (else NIRVANA_CLUSTER_SECRET or NIRVANA_CLUSTER_SECRET_FILE); --nodes generates one" };
    private readonly Option<bool> _sharedOutput = new("--shared-output") { Description = "Nodes write their compacted shard files straight into the output folder (shared storage)" };
    private readonly Option<double> _heartbeatTimeout = NumberOption.Double("--heartbeat-timeout", "Seconds of silence after which a node counts as lost", 5);

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _nodes, _listen, _expectNodes, _joinTimeout, _secretFile, _sharedOutput, _heartbeatTimeout })
            command.Options.Add(option);
    }

    public ClusterOptions Read(ParseResult parse) => new ClusterOptions
    {
        LocalNodes = parse.GetValue(_nodes),
        Listen = parse.GetValue(_listen),
        ExpectNodes = parse.GetValue(_expectNodes),
        JoinTimeout = TimeSpan.FromSeconds(parse.GetValue(_joinTimeout)),
        SecretFile = parse.GetValue(_secretFile),
        SharedOutput = parse.GetValue(_sharedOutput),
        HeartbeatTimeout = TimeSpan.FromSeconds(parse.GetValue(_heartbeatTimeout)),
    }.Validated();
}
