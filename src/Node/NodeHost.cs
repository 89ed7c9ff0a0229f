using System.Runtime.InteropServices;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Hosting;
using NirvanaCluster.Clustering.Placement;
using NirvanaCluster.Clustering.Stage;
using Serilog;

namespace NirvanaCluster.Node;

/// <summary>
/// The node process: a .NET Generic Host running the Akka.NET member (remoting with mutual TLS, cluster, the stage
/// shard region, the node agent) and the data-plane listener, until the coordinator leaves, refuses the node, or
/// the process is told to stop (SIGTERM/SIGINT: the host stops Akka through its coordinated shutdown).
/// </summary>
public static class NodeHost
{
    public static async Task<int> RunAsync(NodeOptions options, CancellationToken cancellation)
    {
        // SIGTERM (Kubernetes) and SIGINT stop the node in any state: taken here, before the runtime's default
        // handling ends the process under Akka's feet.
        using var signalled = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; signalled.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; signalled.Cancel(); });
        cancellation = signalled.Token;
        if (options.Threads is { } t) Engine.Tensors.GemmThreads.Set(t);
        FaultInjection.Configure(options.Name);
        var advertise = options.Advertise ?? (options.Listen.Host is "0.0.0.0" or "::" ? Environment.MachineName : options.Listen.Host);
        await using var dataPlane = TcpDataPlane.Start(options.Listen.Host, options.DataPort, advertise);
        await using var health = options.HealthPort > 0 ? await HealthEndpoint.StartAsync(options.HealthPort) : null;
        var exit = new NodeExit();
        var member = new ClusterMemberSettings
        {
            BindHost = options.Listen.Host, Port = options.Listen.Port, PublicHost = advertise,
            SeedHost = options.Coordinator.Host, SeedPort = options.Coordinator.Port,
            Role = ClusterMemberSettings.NodeRole, Certificate = options.Certificate,
            Detection = options.Detection, VerboseAkkaLogs = options.Verbose,
        };
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders().AddSerilog(dispose: false);
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.AddAkka(ClusterMemberSettings.SystemName, akka =>
        {
            akka.Configure(member);
            akka.WithActors((system, _) =>
            {
                // Nodes never allocate shards (the coordinator, the oldest member, runs the shard coordinator),
                // but every region is started with the same strategy type.
                StageRegion.Start(system, dataPlane, options.Name, new StagePlacement());
                // Twice the resolver's stable-after: by then the coordinator's side has downed this node if the silence
                // was real, so waiting longer only delays the exit after a coordinator died.
                system.ActorOf(NodeAgent.Props(NodeAgent.Registration(options.Name, options.MemoryBudget, dataPlane.Endpoint), exit,
                    2 * options.Detection.StableAfter), NodeAgent.Name);
            });
        });
        using var host = builder.Build();
        Log.Information("Node {Name}: remoting on {Listen} as {Advertise}, data plane at {DataPlane}, memory budget {Budget:N0} bytes; joining {Seed}",
            options.Name, options.Listen, advertise, dataPlane.Endpoint, options.MemoryBudget, member.SeedAddress);
        await host.StartAsync(cancellation);
        var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        try
        {
            var joined = await Task.WhenAny(exit.Ready, exit.Task, Task.Delay(options.JoinTimeout, stopping), Task.Delay(Timeout.Infinite, cancellation));
            if (joined == exit.Ready)
            {
                health?.MarkReady(true);
                await Task.WhenAny(exit.Task, Task.Delay(Timeout.Infinite, stopping), Task.Delay(Timeout.Infinite, cancellation));
            }
            else if (!exit.Task.IsCompleted && !stopping.IsCancellationRequested && !cancellation.IsCancellationRequested)
                exit.Exit(1, $"could not join the coordinator at {options.Coordinator} within {options.JoinTimeout.TotalSeconds:F0} s " +
                             "(--join-timeout): is it running there, and do both use the same cluster certificate?");
        }
        catch (OperationCanceledException) { }
        var (code, reason) = exit.Task.IsCompleted ? exit.Task.Result
            : cancellation.IsCancellationRequested ? (0, "asked to stop")
            // Akka.NET ended on its own before this node joined: the log above says why (a refused TLS handshake
            // means the certificates differ).
            : (1, $"the actor system stopped before this node could join the coordinator at {options.Coordinator}; see the log above");
        if (code == 0) Log.Information("Node {Name} exits: {Reason}", options.Name, reason);
        else Console.Error.WriteLine($"nirvana-node: error: {reason}");
        using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await host.StopAsync(shutdown.Token); } catch (OperationCanceledException) { }
        return code;
    }
}
