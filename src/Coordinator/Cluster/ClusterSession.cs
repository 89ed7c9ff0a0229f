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

    /// <summary>The pipeline of the job; with a calibration search on a cluster big enough, the first of several.</summary>
    public ClusterPipeline Pipeline => Pipelines[0];

    /// <summary>Pipelines side by side on disjoint node groups (one unless the job asked for more and they fit).</summary>
    public IReadOnlyList<ClusterPipeline> Pipelines { get; }
    public IReadOnlyList<StageAssignment> Assignments { get; }

    private ClusterSession(IHost host, IDataPlane dataPlane, LocalNodeProcesses? localNodes, string? certificateFile, NodeDirectory? directory,
        IReadOnlyList<ClusterPipeline> pipelines, IReadOnlyList<StageAssignment> assignments)
    {
        _directory = directory;
        _host = host;
        _dataPlane = dataPlane;
        _localNodes = localNodes;
        _certificateFile = certificateFile;
        Pipelines = pipelines;
        Assignments = assignments;
    }

    /// <param name="sequences">sequences per pass (for the memory plan; 0: one micro-batch per stage in flight)</param>
    /// <param name="objective">what the passes compute at the head (a gradient objective for calibration)</param>
    /// <param name="pipelines">how many pipelines the job could use side by side (a calibration search's candidates)</param>
    public static async Task<ClusterSession> StartAsync(ClusterOptions options, string modelPath, LlamaConfig config,
        int microBatch, int positions, int inFlight, CancellationToken cancellation, int sequences = 0, ObjectiveKind objective = ObjectiveKind.MaxLogit,
        int pipelines = 1)
    {
        options.Validated();
        var pass = new PassShape(microBatch, positions, sequences > 0 ? sequences : microBatch * inFlight, inFlight, objective);
        var elementBytes = MemoryPlan.MatrixElementBytes(modelPath);
        return options.InProcess
            ? await StartInProcessAsync(options, modelPath, config, pass, elementBytes, cancellation)
            : await StartClusterAsync(options, modelPath, config, pass, elementBytes, pipelines, cancellation);
    }

    /// <summary>One stage actor in a local actor system; tensors stay in memory.</summary>
    private static async Task<ClusterSession> StartInProcessAsync(ClusterOptions options, string modelPath, LlamaConfig config, PassShape pass, int elementBytes,
        CancellationToken cancellation)
    {
        var whole = MemoryPlan.InProcess(config, pass, elementBytes, options.MemoryBudget, options.Schedule);
        var dataPlane = new InMemoryDataPlane();
        var host = BuildHost(akka => akka.ConfigureCommon(options.VerboseAkkaLogs));
        await host.StartAsync(cancellation);
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var stage = system.ActorOf(StageActor.Props(dataPlane, "in-process"), "stage-0");
            LogPlan([("in-process", whole)]);
            var pipeline = new ClusterPipeline(system, new StageRefs.Direct([stage]), [new StageInfo("in-process", Descriptor(whole))], [null], dataPlane, null)
            {
                Schedules = [whole.Schedule], InFlight = pass.InFlight,
            };
            await pipeline.LoadAsync(Guid.NewGuid().ToString("N"), Path.GetFullPath(modelPath), cancellation);
            return new ClusterSession(host, dataPlane, null, null, null, [pipeline], [whole]);
        }
        catch
        {
            await StopAsync(host);
            throw;
        }
    }

    private static async Task<ClusterSession> StartClusterAsync(ClusterOptions options, string modelPath, LlamaConfig config, PassShape pass, int elementBytes,
        int pipelines, CancellationToken cancellation)
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
                var perNode = MemoryPlan.LocalNodeBudget(n);
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
            var groups = Groups(ordered, pipelines, g => LayerPartitioner.Plan(config, g.Select(m => m.MemoryBudgetBytes).ToArray(), pass, elementBytes, options.Schedule));
            var jobId = Guid.NewGuid().ToString("N")[..12];
            var detection = member.Detection;
            var recovery = new RecoveryOptions
            {
                MaxRecoveries = options.MaxRecoveries, RejoinTimeout = options.RejoinTimeout,
                RemovalWithin = detection.AcceptableHeartbeatPause + detection.StableAfter + detection.DownRemovalMargin + TimeSpan.FromSeconds(15),
            };
            var built = new List<ClusterPipeline>();
            var homes = new StageHomes(directory, processes, recovery, () => Occupancy(built));
            foreach (var (k, (group, assignments)) in groups.Index())
            {
                var entityIds = assignments.Select(a => groups.Count == 1 ? $"{jobId}-stage-{a.Node}" : $"{jobId}-p{k}-stage-{a.Node}").ToArray();
                for (var i = 0; i < assignments.Count; i++) placement.Place(entityIds[i], group[assignments[i].Node].Address);
                LogPlan(assignments.Select(a => (group[a.Node].Name, a)).ToArray());
                built.Add(new ClusterPipeline(system, new StageRefs.Sharded(region!, entityIds),
                    assignments.Select(a => new StageInfo(group[a.Node].Name, Descriptor(a))).ToArray(),
                    assignments.Select(a => (Address?)group[a.Node].Address).ToArray(), dataPlane, directory, detection.VerdictWithin)
                {
                    Schedules = assignments.Select(a => a.Schedule).ToArray(), InFlight = pass.InFlight,
                    Recovery = new PipelineRecovery(homes, placement, entityIds, assignments.Select(a => a.EstimatedBytes).ToArray()),
                });
            }
            if (groups.Count > 1)
                Log.Information("{Count} pipelines side by side on node groups of {Sizes}, for the calibration candidates", groups.Count, string.Join(", ", groups.Select(g => g.Nodes.Count)));
            await Task.WhenAll(built.Select(p => p.LoadAsync(jobId, Path.GetFullPath(modelPath), cancellation)));
            return new ClusterSession(host, dataPlane, processes, certificateFile, directory, built, groups[0].Assignments);
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

    /// <summary>
    /// Splits the nodes into up to <paramref name="wanted"/> groups of consecutive nodes (sizes within one of each
    /// other), as many as can each hold the whole model; one group when only all the nodes together can.
    /// </summary>
    private static List<(IReadOnlyList<NodeInfo> Nodes, IReadOnlyList<StageAssignment> Assignments)> Groups(
        IReadOnlyList<NodeInfo> nodes, int wanted, Func<IReadOnlyList<NodeInfo>, IReadOnlyList<StageAssignment>> plan)
    {
        for (var g = Math.Min(wanted, nodes.Count); g > 1; g--)
        {
            var groups = new List<(IReadOnlyList<NodeInfo>, IReadOnlyList<StageAssignment>)>();
            try
            {
                for (int k = 0, start = 0; k < g; k++)
                {
                    var size = nodes.Count / g + (k < nodes.Count % g ? 1 : 0);
                    var group = nodes.Skip(start).Take(size).ToArray();
                    groups.Add((group, plan(group)));
                    start += size;
                }
                return groups;
            }
            catch (InvalidOperationException e)
            {
                Log.Information("{Groups} pipelines do not fit on {Nodes} nodes ({Reason}); trying fewer", g, nodes.Count, e.Message);
            }
        }
        return [(nodes, plan(nodes))];
    }

    /// <summary>The bytes planned on each node across every pipeline: what a re-created stage must fit beside.</summary>
    private static IReadOnlyDictionary<Address, long> Occupancy(IEnumerable<ClusterPipeline> pipelines)
    {
        var used = new Dictionary<Address, long>();
        foreach (var p in pipelines)
            foreach (var (address, bytes) in p.Placements)
                used[address] = used.GetValueOrDefault(address) + bytes;
        return used;
    }

    private static void LogPlan(IReadOnlyList<(string Name, StageAssignment A)> stages)
    {
        foreach (var (name, a) in stages)
            Log.Information("Stage {Stage}: layers [{First}, {End}){Embedding}{Head}, schedule {Schedule}, planned {Bytes:N0} bytes (all-layers {AllLayers:N0}, layer-bounded {Bounded:N0})",
                name, a.FirstLayer, a.EndLayer, a.Embedding ? " + embedding" : "", a.Head ? " + head" : "", a.Schedule.Name(), a.EstimatedBytes,
                a.AllLayersBytes, a.LayerBoundedBytes);
    }

    /// <summary>Each stage's planned and measured memory, logged one line per stage (in-process the peak is this process's).</summary>
    public async Task<IReadOnlyList<(string Stage, StageAssignment Assignment, StageMemory Memory)>> MemoryReportAsync(CancellationToken cancellation)
    {
        var reports = await Pipeline.MemoryAsync(cancellation);
        var result = Pipeline.Stages.Select((s, i) => (s.Name, Assignments[i], reports[i])).ToArray();
        foreach (var (name, a, m) in result)
            Log.Information("Stage {Stage} memory: schedule {Schedule}, planned {Planned:N0} bytes, peak RSS {Peak:N0} bytes ({Ratio:P0} of planned), peak managed heap {Managed:N0} bytes",
                name, m.Schedule, m.PlannedBytes > 0 ? m.PlannedBytes : a.EstimatedBytes, m.PeakResidentBytes,
                (double)m.PeakResidentBytes / Math.Max(1, m.PlannedBytes > 0 ? m.PlannedBytes : a.EstimatedBytes), m.PeakManagedBytes);
        if (_directory is not null)
            Log.Information("Coordinator memory: peak RSS {Peak:N0} bytes", Clustering.Stage.ProcessMemory.PeakResidentBytes());
        return result;
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
        foreach (var p in Pipelines) await p.DisposeAsync();
        await StopAsync(_host);
        await _dataPlane.DisposeAsync();
        if (_localNodes is not null) await _localNodes.DisposeAsync();
        if (_certificateFile is not null) File.Delete(_certificateFile);
    }
}
