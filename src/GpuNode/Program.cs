using System.CommandLine;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using Serilog;
using Serilog.Events;

namespace NirvanaCluster.GpuNode;

/// <summary>
/// nirvana-node: joins a coordinator, announces its memory budget, and serves one layer shard through the node actor
/// until the coordinator goes away (then it exits; a node holds nothing that cannot be re-created).
/// </summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    public static RootCommand BuildRoot()
    {
        var coordinator = new Option<string>("--coordinator") { Description = "Coordinator remoting endpoint HOST:PORT to join", Required = true };
        var memory = new Option<string?>("--memory") { Description = "Memory budget for the shard: bytes, or with K/M/G/Ki/Mi/Gi (default: 80% of available memory)" };
        var listen = new Option<string>("--listen") { Description = "This node's remoting endpoint HOST:PORT (port 0 picks one)", DefaultValueFactory = _ => "0.0.0.0:7701" };
        var advertise = new Option<string?>("--advertise") { Description = "Host name others use to reach this node (default: the --listen host, or the machine name for 0.0.0.0)" };
        var name = new Option<string?>("--name") { Description = "Node name in logs and errors (default: host-pid)" };
        var secretFile = new Option<string?>("--secret-file") { Description = "File holding the cluster secret (else NIRVANA_CLUSTER_SECRET or NIRVANA_CLUSTER_SECRET_FILE)" };
        var healthPort = new Option<int>("--health-port") { Description = "HTTP port for /healthz and /readyz (0 disables)", DefaultValueFactory = _ => 8080 };
        var threads = new Option<int?>("--threads") { Description = "Compute threads for GEMM (default: all cores)" };
        var joinTimeout = new Option<int>("--join-timeout") { Description = "Seconds to keep retrying the coordinator before giving up", DefaultValueFactory = _ => 300 };
        var root = new RootCommand("nirvana-node: a NirvanaCluster node holding one layer shard of the model being pruned")
        {
            coordinator, memory, listen, advertise, name, secretFile, healthPort, threads, joinTimeout,
        };
        root.SetAction(async (parse, cancellation) =>
        {
            Log.Logger = new LoggerConfiguration().MinimumLevel.Information()
                .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose, outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] node: {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            try
            {
                var options = new NodeOptions(
                    Endpoint.Parse(parse.GetValue(coordinator)!, "--coordinator"),
                    parse.GetValue(memory) is { } m ? ByteSize.Parse(m, "--memory") : ByteSize.DefaultBudget(),
                    Endpoint.Parse(parse.GetValue(listen)!, "--listen"),
                    parse.GetValue(advertise),
                    parse.GetValue(name) ?? $"{Environment.MachineName}-{Environment.ProcessId}",
                    ClusterSecret.Load(parse.GetValue(secretFile)),
                    parse.GetValue(healthPort),
                    parse.GetValue(threads),
                    TimeSpan.FromSeconds(parse.GetValue(joinTimeout)));
                return await NodeHost.RunAsync(options, cancellation);
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or ClusterJoinException or InvalidOperationException)
            {
                Console.Error.WriteLine($"nirvana-node: error: {e.Message}");
                return 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync();
            }
        });
        return root;
    }
}

public sealed record NodeOptions(Endpoint Coordinator, long MemoryBudget, Endpoint Listen, string? Advertise, string Name,
    ClusterSecret Secret, int HealthPort, int? Threads, TimeSpan JoinTimeout);

/// <summary>HOST:PORT, validated with the flag's name in errors.</summary>
public sealed record Endpoint(string Host, int Port)
{
    public static Endpoint Parse(string text, string flag)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 0 or > 65535)
            throw new ArgumentException($"{flag}: '{text}' is not HOST:PORT");
        return new Endpoint(text[..colon].Trim('[', ']'), port);
    }

    public override string ToString() => $"{Host}:{Port}";
}
