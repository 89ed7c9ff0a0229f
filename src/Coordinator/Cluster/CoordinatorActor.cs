using Akka.Actor;
using Akka.Cluster;
using NirvanaCluster.Clustering.Hosting;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Pruning;
using Serilog;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// The coordinator's membership desk at /user/coordinator: accepts a node's RegisterNode when it speaks this
/// protocol version (refusing and downing it otherwise, naming both versions), and turns Akka.Cluster's verdicts
/// (unreachable, removed) about registered nodes into losses the job reacts to.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor
{
    public const string Name = "coordinator";

    private static readonly ILogger Log = Serilog.Log.ForContext<CoordinatorActor>();
    private readonly NodeDirectory _directory;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);

    public CoordinatorActor(NodeDirectory directory)
    {
        _directory = directory;
        Receive<RegisterNode>(OnRegister);
        Receive<ClusterEvent.UnreachableMember>(m => _directory.MarkUnreachable(m.Member.Address, "unreachable: no heartbeat within the failure detector's pause"));
        Receive<ClusterEvent.ReachableMember>(m => _directory.MarkReachable(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => _directory.Remove(m.Member.Address, $"removed from the cluster (was {m.PreviousStatus})"));
        Receive<ClusterEvent.MemberExited>(m => _directory.Remove(m.Member.Address, "left the cluster"));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        ReceiveAny(m => Log.Warning("Coordinator: dropped unexpected {Type} from {Sender}", m.GetType().Name, Sender.Path));
    }

    public static Props Props(NodeDirectory directory) => Akka.Actor.Props.Create(() => new CoordinatorActor(directory));

    protected override void PreStart() => _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
        typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.ReachableMember));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnRegister(RegisterNode m)
    {
        var address = Sender.Path.Address;
        if (m.ProtocolVersion != ProtocolVersion.Current)
        {
            Refuse(address, m.Name, $"node {m.Name} speaks protocol version {m.ProtocolVersion}, this coordinator speaks {ProtocolVersion.Current}");
            return;
        }
        if (m.MemoryBudgetBytes <= 0 || string.IsNullOrEmpty(m.DataEndpoint))
        {
            Refuse(address, m.Name, $"node {m.Name} registered without a memory budget or data-plane endpoint");
            return;
        }
        var refusal = _directory.TryAdd(new NodeInfo(m.Name, address, m.Host, m.Pid, m.MemoryBudgetBytes, m.DataEndpoint));
        if (refusal is not null) Refuse(address, m.Name, refusal);
        else Sender.Tell(new NodeRegistered { ProtocolVersion = ProtocolVersion.Current });
    }

    private void Refuse(Address address, string name, string reason)
    {
        Log.Warning("Refused node {Node} at {Address}: {Reason}", name, address, reason);
        Sender.Tell(new RegistrationRefused { Reason = reason });
        // Give the refusal a moment to arrive before the member is downed and its association closed.
        Context.System.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromSeconds(1), () => _cluster.Down(address));
    }
}
