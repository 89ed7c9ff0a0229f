using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using NirvanaCluster.Clustering.Hosting;
using Serilog;
using Serilog.Events;

namespace NirvanaCluster.Node;

/// <summary>
/// nirvana-node: joins a coordinator's cluster, announces its memory budget, and serves the stages placed on it
/// until the coordinator goes away (then it exits; a node holds nothing that cannot be re-created).
/// </summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    public static RootCommand BuildRoot()
    {
        var coordinator = new Option<string>("--coordinator") { Description = "Coordinator Akka.Remote endpoint HOST:PORT to join (HOST exactly as the coordinator advertises itself)", Required = true };
        var memory = new Option<string?>("--memory") { Description = $"Memory budget for this node's stages: {Engine.ByteSize.Help} (default: 80% of available memory)" };
        var listen = new Option<string>("--listen") { Description = "This node's Akka.Remote endpoint HOST:PORT (port 0 picks one)", DefaultValueFactory = _ => "0.0.0.0:7701" };
        var dataPort = new Option<int?>("--data-port") { Description = "Port of the data-plane listener (tensors between stages) on the --listen host (default 7702; 0 picks one, the default when --listen has port 0)" };
        var advertise = new Option<string?>("--advertise") { Description = "Host name others use to reach this node (default: the --listen host, or the machine name for 0.0.0.0)" };
        var name = new Option<string?>("--name") { Description = "Node name in logs and errors; nodes are placed in name order (default: host-pid)" };
        var certificate = new Option<string?>("--certificate") { Description = $"Cluster certificate: PFX, or PEM with its key (or a folder with tls.crt and tls.key); else {ClusterCertificate.PathVariable} (password: {ClusterCertificate.PasswordVariable})" };
        var healthPort = new Option<int>("--health-port") { Description = "HTTP port for /healthz and /readyz (0 disables)", DefaultValueFactory = _ => 8080 };
        var threads = new Option<int?>("--threads") { Description = "Compute threads for GEMM (default: all cores)" };
        var joinTimeout = new Option<int>("--join-timeout") { Description = "Seconds to keep trying to join the coordinator before giving up", DefaultValueFactory = _ => 300 };
        var heartbeatTimeout = new Option<double>("--heartbeat-timeout") { Description = "Seconds of silence after which a member counts as unreachable (match the coordinator's)", DefaultValueFactory = _ => FailureDetection.Default.AcceptableHeartbeatPause.TotalSeconds };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging, Akka.NET's included" };
        var root = new RootCommand("nirvana-node: a NirvanaCluster node; holds the layer stages the coordinator places on it")
        {
            coordinator, memory, listen, dataPort, advertise, name, certificate, healthPort, threads, joinTimeout, heartbeatTimeout, verbose,
        };
        root.SetAction(async (parse, cancellation) =>
        {
            var level = parse.GetValue(verbose) ? LogEventLevel.Debug : LogEventLevel.Information;
            Log.Logger = new LoggerConfiguration().MinimumLevel.Is(level)
                .MinimumLevel.Override("Akka", parse.GetValue(verbose) ? LogEventLevel.Debug : LogEventLevel.Warning)
                .Filter.With(new Clustering.Logging.RepeatedWarningFilter())
                .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose, outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] node: {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            try
            {
                var listenAt = Endpoint.Parse(parse.GetValue(listen)!, "--listen");
                if (parse.GetValue(heartbeatTimeout) is var pause && !(pause >= 0.5 && pause <= 600))
                    throw new ArgumentException($"--heartbeat-timeout must be between 0.5 and 600 seconds (got {pause})");
                var options = new NodeOptions(
                    Endpoint.Parse(parse.GetValue(coordinator)!, "--coordinator"),
                    parse.GetValue(memory) is { } m ? Engine.ByteSize.Parse(m, "--memory") : Engine.ByteSize.DefaultBudget(),
                    listenAt,
                    parse.GetValue(dataPort) ?? (listenAt.Port == 0 ? 0 : 7702),
                    parse.GetValue(advertise),
                    parse.GetValue(name) ?? $"{Environment.MachineName}-{Environment.ProcessId}",
                    ClusterCertificate.Load(parse.GetValue(certificate)),
                    parse.GetValue(healthPort),
                    parse.GetValue(threads),
                    TimeSpan.FromSeconds(parse.GetValue(joinTimeout)),
                    FailureDetection.WithPause(TimeSpan.FromSeconds(pause)),
                    parse.GetValue(verbose));
                return await NodeHost.RunAsync(options, cancellation);
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or InvalidOperationException)
            {
                Console.Error.WriteLine($"nirvana-node: error: {e.Message}");
                return e is ArgumentException ? 2 : 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync();
            }
        });
        return root;
    }
}

public sealed record NodeOptions(Endpoint Coordinator, long MemoryBudget, Endpoint Listen, int DataPort, string? Advertise, string Name,
    X509Certificate2 Certificate, int HealthPort, int? Threads, TimeSpan JoinTimeout, FailureDetection Detection, bool Verbose);
