using System.Security.Cryptography;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.GpuNode;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// The coordinator's side of a job's placement: starts the actor system (local-only, or listening as the seed),
/// gathers the node actors (in-process, local processes, or joined from elsewhere), partitions the layers by
/// their memory budgets, and has each node load its shard. Disposing ends the session and, with it, the nodes.
/// </summary>
public sealed class ClusterSession : IAsyncDisposable
{
    public const string SystemName = NodeHost.CoordinatorSystemName;

    private readonly ActorSystem _system;
    private readonly LocalNodeProcesses? _localNodes;
    private readonly bool _inProcess;

    public IReadOnlyList<ActorStage> Stages { get; }
    public IReadOnlyList<StageAssignment> Assignments { get; }

    private ClusterSession(ActorSystem system, LocalNodeProcesses? localNodes, IReadOnlyList<ActorStage> stages, IReadOnlyList<StageAssignment> assignments,
        bool inProcess)
    {
        _inProcess = inProcess;
        _system = system;
        _localNodes = localNodes;
        Stages = stages;
        Assignments = assignments;
    }

    /// <param name="sequences">sequences per pass (for the memory plan; 0: one micro-batch per stage in flight)</param>
    /// <param name="objective">what the passes compute at the head (a gradient objective for calibration)</param>
    public static async Task<ClusterSession> StartAsync(ClusterOptions options, string modelPath, LlamaConfig config,
        int microBatch, int positions, int inFlight, CancellationToken cancellation, int sequences = 0, ObjectiveKind objective = ObjectiveKind.MaxLogit)
    {
        options.Validated();
        var pass = new PassShape(microBatch, positions, sequences > 0 ? sequences : microBatch * inFlight, inFlight, objective);
        var elementBytes = MemoryPlan.MatrixElementBytes(modelPath);
        if (options.InProcess)
        {
            var whole = MemoryPlan.InProcess(config, pass, elementBytes, options.MemoryBudget, options.Schedule);
            var local = ActorSystem.Create(SystemName, new ActorSystemOptions { Logger = Log.Logger });
            var node = local.ActorOf(Props.Create(() => new ShardNodeActor()), ShardNodeActor.Name);
            return await LoadAsync(local, null, [("in-process", node)], [whole], modelPath, inFlight, cancellation, inProcess: true);
        }

        string secret;
        ClusterSecret clusterSecret;
        if (options.LocalNodes is not null)
        {
            secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)); // a fresh secret only these processes know
            clusterSecret = ClusterSecret.FromString(secret, "a generated secret");
        }
        else
        {
            clusterSecret = ClusterSecret.Load(options.SecretFile);
            secret = "";
        }
        var endpoint = options.Listen is { } l ? Endpoint.Parse(l, "--listen") : new Endpoint("127.0.0.1", 0);
        var system = await ActorSystem.StartAsync(SystemName, new RemotingOptions(clusterSecret)
        {
            BindHost = endpoint.Host,
            Port = endpoint.Port,
            PublicHost = endpoint.Host is "0.0.0.0" or "::" ? Environment.MachineName : endpoint.Host,
            NodeId = "coordinator",
            UnreachableAfter = options.HeartbeatTimeout,
            HeartbeatInterval = TimeSpan.FromSeconds(Math.Max(0.2, options.HeartbeatTimeout.TotalSeconds / 4)),
        }, new ActorSystemOptions { Logger = Log.Logger }, cancellation);
        LocalNodeProcesses? processes = null;
        try
        {
            var expected = options.LocalNodes ?? options.ExpectNodes!.Value;
            var joined = new MemberCollector(expected);
            var collector = system.ActorOf(Props.Create(() => joined.CreateActor()), "join-collector");
            system.Cluster.Subscribe(collector);
            Log.Information("Coordinator listening at {Address}; waiting for {Expected} node(s)", system.Address, expected);
            if (options.LocalNodes is { } n)
            {
                var perNode = MemoryPlan.LocalNodeBudget(n);
                processes = LocalNodeProcesses.Start(n, $"127.0.0.1:{system.Address.Port}", perNode, secret, (int)Math.Ceiling(options.HeartbeatTimeout.TotalSeconds));
            }
            IReadOnlyList<MemberInfo> members;
            try
            {
                members = await joined.All.WaitAsync(options.JoinTimeout, cancellation);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"only {joined.Count} of {expected} node(s) joined within {options.JoinTimeout.TotalSeconds:F0} s (--join-timeout)");
            }
            system.Cluster.Unsubscribe(collector);
            // A stable order (by name, then address) so the same nodes always get the same layers.
            var ordered = members.OrderBy(m => m.NodeId, StringComparer.Ordinal).ThenBy(m => m.Address.ToString(), StringComparer.Ordinal).ToArray();
            var assignments = LayerPartitioner.Plan(config, ordered.Select(m => m.MemoryBudgetBytes).ToArray(), pass, elementBytes, options.Schedule);
            var nodes = assignments.Select(a => ($"{ordered[a.Node].NodeId}", system.Resolve(new ActorPath(ordered[a.Node].Address, "/user/" + ShardNodeActor.Name)))).ToArray();
            return await LoadAsync(system, processes, nodes, assignments, modelPath, inFlight, cancellation);
        }
        catch
        {
            await system.TerminateAsync();
            if (processes is not null) await processes.DisposeAsync();
            throw;
        }
    }

    private static async Task<ClusterSession> LoadAsync(ActorSystem system, LocalNodeProcesses? processes, IReadOnlyList<(string Name, ActorRef Ref)> nodes,
        IReadOnlyList<StageAssignment> assignments, string modelPath, int inFlight, CancellationToken cancellation, bool inProcess = false)
    {
        var stages = assignments.Select((a, i) => new ActorStage(nodes[i].Name, nodes[i].Ref,
            new StageDescriptor(a.FirstLayer, a.EndLayer, a.Embedding, a.Head))).ToArray();
        foreach (var (stage, a) in stages.Zip(assignments))
            Log.Information("Stage {Stage}: layers [{First}, {End}){Embedding}{Head}, schedule {Schedule}, planned {Bytes:N0} bytes (all-layers {AllLayers:N0}, layer-bounded {Bounded:N0})",
                stage.Name, a.FirstLayer, a.EndLayer, a.Embedding ? " + embedding" : "", a.Head ? " + head" : "", a.Schedule.Name(), a.EstimatedBytes,
                a.AllLayersBytes, a.LayerBoundedBytes);
        var jobId = Guid.NewGuid().ToString("N");
        await Task.WhenAll(stages.Zip(assignments).Select(p => p.First.LoadAsync(jobId, Path.GetFullPath(modelPath), cancellation, p.Second.Schedule, inFlight)));
        return new ClusterSession(system, processes, stages, assignments, inProcess);
    }

    /// <summary>Each stage's planned and measured memory, logged one line per stage (in-process the peak is this process's).</summary>
    public async Task<IReadOnlyList<(string Stage, StageAssignment Assignment, StageMemory Memory)>> MemoryReportAsync(CancellationToken cancellation)
    {
        var reports = await Task.WhenAll(Stages.Select(s => s.MemoryAsync(cancellation)));
        var result = Stages.Select((s, i) => (s.Name, Assignments[i], reports[i])).ToArray();
        foreach (var (name, a, m) in result)
            Log.Information("Stage {Stage} memory: schedule {Schedule}, planned {Planned:N0} bytes, peak RSS {Peak:N0} bytes ({Ratio:P0} of planned), peak managed heap {Managed:N0} bytes",
                name, m.Schedule, m.PlannedBytes > 0 ? m.PlannedBytes : a.EstimatedBytes, m.PeakResidentBytes,
                (double)m.PeakResidentBytes / Math.Max(1, m.PlannedBytes > 0 ? m.PlannedBytes : a.EstimatedBytes), m.PeakManagedBytes);
        if (!_inProcess)
            Log.Information("Coordinator memory: peak RSS {Peak:N0} bytes", ProcessMemory.PeakResidentBytes());
        return result;
    }

    public static string ShardFileName(int index, int count) => $"model-{index + 1:D5}-of-{count:D5}.safetensors";

    public async ValueTask DisposeAsync()
    {
        await _system.TerminateAsync();
        if (_localNodes is not null) await _localNodes.DisposeAsync();
    }

    /// <summary>Completes once the expected number of members are up.</summary>
    private sealed class MemberCollector(int expected)
    {
        private readonly List<MemberInfo> _members = [];
        private readonly TaskCompletionSource<IReadOnlyList<MemberInfo>> _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<IReadOnlyList<MemberInfo>> All => _all.Task;
        public int Count { get { lock (_members) return _members.Count; } }

        public Actor CreateActor() => new Listener(this);

        private void Up(MemberInfo member)
        {
            lock (_members)
            {
                if (_members.Any(m => m.Address == member.Address)) return;
                _members.Add(member);
                Log.Information("Node {Node} joined from {Address} ({Host}, pid {Pid}), memory budget {Budget:N0} bytes",
                    member.NodeId, member.Address, member.Host, member.Pid, member.MemoryBudgetBytes);
                if (_members.Count == expected) _all.TrySetResult([.. _members]);
            }
        }

        private void Lost(MemberInfo member, string reason)
        {
            lock (_members)
                if (_members.RemoveAll(m => m.Address == member.Address) > 0)
                    Log.Warning("Node {Node} left before the job started: {Reason}", member.NodeId, reason);
        }

        private sealed class Listener : Actor
        {
            public Listener(MemberCollector owner)
            {
                Receive<MemberUp>(m => owner.Up(m.Member));
                Receive<MemberUnreachable>(m => owner.Lost(m.Member, m.Reason));
            }
        }
    }
}
