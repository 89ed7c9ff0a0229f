using Akka.Actor;
using Akka.Cluster;
using NirvanaCluster.Clustering.Hosting;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Pruning;
using Serilog;

namespace NirvanaCluster.Node;

/// <summary>
/// The node's voice towards the coordinator: once this member is Up it registers (name, memory budget, data-plane
/// endpoint, protocol version) until the coordinator answers, and it ends the process when the coordinator refuses
/// it, leaves, stays unreachable for a grace period (it died: nothing would ever end this node otherwise), or this
/// member is removed from the cluster. A coordinator that answers again within the grace (a pause, not a death)
/// keeps the node. States: <see cref="Joining"/> → <see cref="Registering"/> → <see cref="Registered"/>.
/// </summary>
public sealed class NodeAgent : ReceiveActor, IWithTimers
{
    public const string Name = "node-agent";
    public const string CoordinatorActorName = "coordinator";

    private static readonly ILogger Log = Serilog.Log.ForContext<NodeAgent>();
    private readonly RegisterNode _registration;
    private readonly NodeExit _exit;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);

    public ITimerScheduler Timers { get; set; } = null!;

    private readonly TimeSpan _coordinatorGrace;

    private sealed record RetryRegistration
    {
        public static readonly RetryRegistration Instance = new();
    }

    private sealed record CoordinatorGone
    {
        public static readonly CoordinatorGone Instance = new();
    }

    /// <param name="coordinatorGrace">how long an unreachable coordinator may stay so before this node gives up on it</param>
    public NodeAgent(RegisterNode registration, NodeExit exit, TimeSpan coordinatorGrace)
    {
        _registration = registration;
        _exit = exit;
        _coordinatorGrace = coordinatorGrace;
        Become(Joining);
    }

    public static Props Props(RegisterNode registration, NodeExit exit, TimeSpan coordinatorGrace) =>
        Akka.Actor.Props.Create(() => new NodeAgent(registration, exit, coordinatorGrace));

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Joining()
    {
        Receive<ClusterEvent.MemberUp>(m =>
        {
            if (!m.Member.Address.Equals(_cluster.SelfAddress)) return;
            Log.Information("Joined the cluster at {Seed} as {Address}", _cluster.State.Leader?.ToString() ?? "the seed", _cluster.SelfAddress);
            Register();
            Timers.StartPeriodicTimer(nameof(RetryRegistration), RetryRegistration.Instance, TimeSpan.FromSeconds(1));
            Become(Registering);
        });
        CommonHandlers();
    }

    private void Registering()
    {
        Receive<RetryRegistration>(_ => Register());
        Receive<NodeRegistered>(_ =>
        {
            Timers.Cancel(nameof(RetryRegistration));
            Log.Information("Registered with the coordinator: memory budget {Budget:N0} bytes, data plane at {DataPlane}",
                _registration.MemoryBudgetBytes, _registration.DataEndpoint);
            _exit.MarkReady();
            Become(Registered);
        });
        Receive<RegistrationRefused>(m => _exit.Exit(2, $"the coordinator refused this node: {m.Reason}"));
        CommonHandlers();
    }

    private void Registered() => CommonHandlers();

    private void CommonHandlers()
    {
        Receive<ClusterEvent.MemberUp>(_ => { });
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            if (m.Member.Address.Equals(_cluster.SelfAddress) && Timers.IsTimerActive(nameof(CoordinatorGone)))
                _exit.Exit(0, "the coordinator became unreachable, and this node left the cluster without it");
            else if (m.Member.Address.Equals(_cluster.SelfAddress)) _exit.Exit(1, "this node was removed from the cluster (it was unreachable for too long)");
            else if (m.Member.HasRole(ClusterMemberSettings.CoordinatorRole))
                _exit.Exit(0, Timers.IsTimerActive(nameof(CoordinatorGone))
                    ? "the coordinator became unreachable and was removed from the cluster (it died, or this node was cut off from it)"
                    : "the coordinator left the cluster");
        });
        Receive<ClusterEvent.UnreachableMember>(m =>
        {
            if (!m.Member.HasRole(ClusterMemberSettings.CoordinatorRole)) return;
            Log.Warning("The coordinator at {Address} is unreachable; waiting {Seconds:F1} s for it to answer again", m.Member.Address, _coordinatorGrace.TotalSeconds);
            Timers.StartSingleTimer(nameof(CoordinatorGone), CoordinatorGone.Instance, _coordinatorGrace);
        });
        Receive<ClusterEvent.ReachableMember>(m =>
        {
            if (!m.Member.HasRole(ClusterMemberSettings.CoordinatorRole) || !Timers.IsTimerActive(nameof(CoordinatorGone))) return;
            Timers.Cancel(nameof(CoordinatorGone));
            Log.Information("The coordinator at {Address} answers again", m.Member.Address);
        });
        Receive<CoordinatorGone>(_ => _exit.Exit(0, $"the coordinator became unreachable and stayed so for {_coordinatorGrace.TotalSeconds:F1} s"));
        ReceiveAny(m => Log.Warning("Node agent: dropped unexpected {Type}", m.GetType().Name));
    }

    private void Register()
    {
        var coordinator = Context.ActorSelection($"{_cluster.State.Members.FirstOrDefault(m => m.HasRole(ClusterMemberSettings.CoordinatorRole))?.Address}/user/{CoordinatorActorName}");
        coordinator.Tell(_registration);
    }

    /// <summary>The registration this node sends, with the protocol version it speaks.</summary>
    public static RegisterNode Registration(string name, long memoryBudget, string dataEndpoint) => new()
    {
        ProtocolVersion = ProtocolVersion.Current, Name = name, Host = Environment.MachineName, Pid = Environment.ProcessId,
        MemoryBudgetBytes = memoryBudget, DataEndpoint = dataEndpoint,
    };
}

/// <summary>How the node process ends: the first reason given wins; the host waits on <see cref="Task"/>.</summary>
public sealed class NodeExit
{
    private readonly TaskCompletionSource<(int Code, string Reason)> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<(int Code, string Reason)> Task => _done.Task;
    public Task Ready => _ready.Task;

    public void Exit(int code, string reason) => _done.TrySetResult((code, reason));
    public void MarkReady() => _ready.TrySetResult();
}
