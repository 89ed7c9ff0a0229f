using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Hosting;
using NirvanaCluster.Clustering.Placement;
using NirvanaCluster.Clustering.Stage;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// A job's placement, from start to end: the Generic Host running the coordinator's Akka.NET system (local only,
/// or the cluster's seed with remoting over mutual TLS), the nodes (none, local processes, or joined from
/// elsewhere), the memory-budget partition, and the loaded stages as a <see cref="ClusterPipeline"/>. Disposing
/// ends the session: the coordinator leaves the cluster and its nodes exit.
/// </summary>
public sealed class ClusterSession : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly IDataPlane _dataPlane;
    private readonly LocalNodeProcesses? _localNodes;
    private readonly string? _certificateFile;
    private readonly NodeDirectory? _directory;

    public ClusterPipeline Pipeline { get; }
    public IReadOnlyList<StageAssignment> Assignments { get; }

    private ClusterSession(IHost host, IDataPlane dataPlane, LocalNodeProcesses? localNodes, string? certificateFile, NodeDirectory? directory,
        ClusterPipeline pipeline, IReadOnlyList<StageAssignment> assignments)
    {
        _directory = directory;
        _host = host;
        _dataPlane = dataPlane;
        _localNodes = localNodes;
        _certificateFile = certificateFile;
        Pipeline = pipeline;
        Assignments = assignments;
    }

    public static async Task<ClusterSession> StartAsync(ClusterOptions options, string modelPath, LlamaConfig config,
        int microBatch, int positions, int inFlight, CancellationToken cancellation)
    {
        options.Validated();
        return options.InProcess
            ? await StartInProcessAsync(options, modelPath, config, cancellation)
            : await StartClusterAsync(options, modelPath, config, microBatch, positions, inFlight, cancellation);
    }

    /// <summary>One stage actor in a local actor system; tensors stay in memory.</summary>
    private static async Task<ClusterSession> StartInProcessAsync(ClusterOptions options, string modelPath, LlamaConfig config, CancellationToken cancellation)
    {
        var dataPlane = new InMemoryDataPlane();
        var host = BuildHost(akka => akka.ConfigureCommon(options.VerboseAkkaLogs));
        await host.StartAsync(cancellation);
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var stage = system.ActorOf(StageActor.Props(dataPlane, "in-process"), "stage-0");
            var whole = new StageAssignment(0, 0, config.NumHiddenLayers, true, true, 0);
            var pipeline = new ClusterPipeline(system, new StageRefs.Direct([stage]), [new StageInfo("in-process", Descriptor(whole))], [null], dataPlane, null);
            await pipeline.LoadAsync(Guid.NewGuid().ToString("N"), Path.GetFullPath(modelPath), cancellation);
            return new ClusterSession(host, dataPlane, null, null, null, pipeline, [whole]);
        }
        catch
        {
            await StopAsync(host);
            throw;
        }
    }

    private static async Task<ClusterSession> StartClusterAsync(ClusterOptions options, string modelPath, LlamaConfig config,
        int microBatch, int positions, int inFlight, CancellationToken cancellation)
    {
        X509Certificate2 certificate;
        string? certificateFile = null;
        if (options.LocalNodes is not null)
        {
            certificate = ClusterCertificate.CreateThrowaway(); // only this job's processes know it
            certificateFile = ClusterCertificate.WritePrivateFile(certificate, Path.Combine(Path.GetTempPath(), "nirvana-cluster"));
        }
        else certificate = ClusterCertificate.Load(options.CertificateFile);

        var listen = options.Listen is { } l ? Endpoint.Parse(l, "--listen") : new Endpoint("127.0.0.1", LocalPorts.Free());
        var advertise = options.Advertise ?? (listen.Host is "0.0.0.0" or "::" ? Environment.MachineName : listen.Host);
        var port = listen.Port != 0 ? listen.Port : LocalPorts.Free();
        var dataPlane = TcpDataPlane.Start(listen.Host, options.DataPort, advertise);
        var directory = new NodeDirectory();
        var placement = new StagePlacement();
        IActorRef? region = null;
        var member = new ClusterMemberSettings
        {
            BindHost = listen.Host, Port = port, PublicHost = advertise, SeedHost = advertise, SeedPort = port,
            Role = ClusterMemberSettings.CoordinatorRole, Certificate = certificate,
            Detection = FailureDetection.WithPause(options.HeartbeatTimeout), VerboseAkkaLogs = options.VerboseAkkaLogs,
        };
        var host = BuildHost(akka =>
        {
            akka.Configure(member);
            akka.WithActors((system, _) =>
            {
                region = StageRegion.Start(system, dataPlane, "coordinator", placement);
                system.ActorOf(CoordinatorActor.Props(directory), CoordinatorActor.Name);
            });
        });
        LocalNodeProcesses? processes = null;
        try
        {
            await host.StartAsync(cancellation);
            var system = host.Services.GetRequiredService<ActorSystem>();
            var expected = options.LocalNodes ?? options.ExpectNodes!.Value;
            Log.Information("Coordinator listening at {Address} (data plane {DataPlane}); waiting for {Expected} node(s)", member.SeedAddress, dataPlane.Endpoint, expected);
            if (options.LocalNodes is { } n)
            {
                var perNode = Math.Max(256L << 20, (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8) / n);
                processes = LocalNodeProcesses.Start(n, $"{advertise}:{port}", perNode, certificateFile!, options.HeartbeatTimeout, options.VerboseAkkaLogs);
            }
            IReadOnlyList<NodeInfo> nodes;
            try
            {
                nodes = await directory.WaitForAsync(expected, cancellation).WaitAsync(options.JoinTimeout, cancellation);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"only {directory.Count} of {expected} node(s) joined within {options.JoinTimeout.TotalSeconds:F0} s (--join-timeout)");
            }
            // A stable order (by name, then address) so the same nodes always get the same layers.
            var ordered = nodes.OrderBy(m => m.Name, StringComparer.Ordinal).ThenBy(m => m.Address.ToString(), StringComparer.Ordinal).Take(expected).ToArray();
            var assignments = LayerPartitioner.Plan(config, ordered.Select(m => m.MemoryBudgetBytes).ToArray(), microBatch, positions, inFlight);
            var jobId = Guid.NewGuid().ToString("N")[..12];
            var entityIds = assignments.Select(a => $"{jobId}-stage-{a.Node}").ToArray();
            for (var i = 0; i < assignments.Count; i++)
            {
                var a = assignments[i];
                placement.Place(entityIds[i], ordered[a.Node].Address);
                Log.Information("Stage {Stage}: layers [{First}, {End}){Embedding}{Head}, estimated {Bytes:N0} bytes", ordered[a.Node].Name, a.FirstLayer, a.EndLayer,
                    a.Embedding ? " + embedding" : "", a.Head ? " + head" : "", a.EstimatedBytes);
            }
            var stages = assignments.Select(a => new StageInfo(ordered[a.Node].Name, Descriptor(a))).ToArray();
            var detection = member.Detection;
            var recovery = new RecoveryOptions
            {
                MaxRecoveries = options.MaxRecoveries, RejoinTimeout = options.RejoinTimeout,
                RemovalWithin = detection.AcceptableHeartbeatPause + detection.StableAfter + detection.DownRemovalMargin + TimeSpan.FromSeconds(15),
            };
            var pipeline = new ClusterPipeline(system, new StageRefs.Sharded(region!, entityIds), stages,
                assignments.Select(a => (Address?)ordered[a.Node].Address).ToArray(), dataPlane, directory, detection.VerdictWithin)
            {
                Recovery = new PipelineRecovery(new StageHomes(directory, processes, recovery), placement, entityIds, assignments.Select(a => a.EstimatedBytes).ToArray()),
            };
            await pipeline.LoadAsync(jobId, Path.GetFullPath(modelPath), cancellation);
            return new ClusterSession(host, dataPlane, processes, certificateFile, directory, pipeline, assignments);
        }
        catch
        {
            await StopAsync(host);
            await dataPlane.DisposeAsync();
            if (processes is not null) await processes.DisposeAsync();
            if (certificateFile is not null) File.Delete(certificateFile);
            throw;
        }
    }

    private static StageDescriptor Descriptor(StageAssignment a) => new(a.FirstLayer, a.EndLayer, a.Embedding, a.Head);

    private static IHost BuildHost(Action<AkkaConfigurationBuilder> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders().AddSerilog(dispose: false);
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.AddAkka(ClusterMemberSettings.SystemName, configure);
        return builder.Build();
    }

    private static async Task StopAsync(IHost host)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await host.StopAsync(grace.Token); } catch (OperationCanceledException) { }
        host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_directory is not null) _directory.Closing = true;
        await Pipeline.DisposeAsync();
        await StopAsync(_host);
        await _dataPlane.DisposeAsync();
        if (_localNodes is not null) await _localNodes.DisposeAsync();
        if (_certificateFile is not null) File.Delete(_certificateFile);
    }
}
