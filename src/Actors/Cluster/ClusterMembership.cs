using System.Diagnostics;
using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Cluster;
using Serilog;

namespace NirvanaCluster.Actors.Cluster;

/// <summary>
/// Who is in the cluster, from this system's point of view. A coordinator is the seed: nodes join it with
/// <see cref="JoinAsync"/> (protocol version and node info), it welcomes them and publishes <see cref="MemberUp"/>;
/// when a member's connection drops or falls silent, subscribers get <see cref="MemberUnreachable"/> naming it.
/// </summary>
public sealed class ClusterMembership
{
    private readonly ActorSystem _system;
    private readonly ILogger _log;
    private readonly Dictionary<Address, MemberInfo> _members = [];
    private readonly List<ActorRef> _subscribers = [];

    internal ClusterMembership(ActorSystem system, RemoteTransport transport, RemotingOptions options)
    {
        _system = system;
        _log = system.Log.ForContext<ClusterMembership>();
        Self = new MemberInfo(options.NodeId ?? system.Name, system.Address, Environment.MachineName, Environment.ProcessId, options.MemoryBudgetBytes, options.Device);
        transport.AssociationLost += OnAssociationLost;
        system.CreateSystemActor(Props.Create(() => new ClusterDaemon(this)), ClusterDaemon.Name);
    }

    /// <summary>This system as a member.</summary>
    public MemberInfo Self { get; }

    /// <summary>The other members currently up.</summary>
    public IReadOnlyList<MemberInfo> Members
    {
        get
        {
            lock (_members)
                return [.. _members.Values];
        }
    }

    /// <summary>Sends <paramref name="subscriber"/> a <see cref="MemberUp"/> per current member, then every later event.</summary>
    public void Subscribe(ActorRef subscriber)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        if (subscriber.Path.Address != _system.Address)
            throw new ArgumentException($"membership subscribers must be local actors; {subscriber} is not", nameof(subscriber));
        lock (_members)
        {
            _subscribers.Add(subscriber);
            foreach (var member in _members.Values)
                subscriber.Tell(new MemberUp(member));
        }
    }

    public void Unsubscribe(ActorRef subscriber)
    {
        lock (_members)
            _subscribers.Remove(subscriber);
    }

    /// <summary>Joins the seed at <paramref name="seed"/>; the seed becomes a member here and this node one there.</summary>
    public async Task<Welcome> JoinAsync(Address seed, TimeSpan timeout, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(seed);
        var daemon = _system.Resolve(new ActorPath(seed, "/system/" + ClusterDaemon.Name));
        IMessage reply;
        try
        {
            reply = await daemon.Ask<IMessage>(new Join { ProtocolVersion = ProtocolVersion.Current, Node = Self.ToProto() }, timeout, cancellation);
        }
        catch (ActorTerminatedException e)
        {
            throw new ClusterJoinException($"cannot join seed {seed}: {e.Reason}", e);
        }
        catch (TimeoutException e)
        {
            throw new ClusterJoinException($"cannot join seed {seed}: no answer within {timeout.TotalSeconds:F1} s", e);
        }
        switch (reply)
        {
            case Welcome welcome:
                var member = MemberInfo.FromProto(welcome.Seed ?? new NodeInfo { NodeId = seed.System }, seed);
                Add(member);
                _log.Information("Joined seed {Seed} as {NodeId}", seed, Self.NodeId);
                return welcome;
            case JoinRefused refused:
                throw new ClusterJoinException($"seed {seed} refused the join: {refused.Reason}");
            default:
                throw new ClusterJoinException($"seed {seed} answered Join with {reply.Descriptor.FullName}, expected Welcome or JoinRefused");
        }
    }

    internal IMessage HandleJoin(Join join, Address from)
    {
        if (join.ProtocolVersion != ProtocolVersion.Current)
            return Refuse(from, $"protocol version {join.ProtocolVersion} is not supported; the seed speaks {ProtocolVersion.Current}");
        if (join.Node is null || string.IsNullOrEmpty(join.Node.NodeId))
            return Refuse(from, "Join.node must carry a node_id");
        if (!from.IsRemotable)
            return Refuse(from, "Join must come from a remote system");
        var member = MemberInfo.FromProto(join.Node, from);
        Add(member);
        _log.Information("Node {NodeId} at {Address} joined ({MemoryBudget} bytes budget, {Device})", member.NodeId, from, member.MemoryBudgetBytes, member.Device);
        var welcome = new Welcome { ProtocolVersion = ProtocolVersion.Current, Seed = Self.ToProto() };
        welcome.Members.AddRange(Members.Select(m => m.ToProto()));
        return welcome;
    }

    private JoinRefused Refuse(Address from, string reason)
    {
        _log.Warning("Refused join from {Address}: {Reason}", from, reason);
        return new JoinRefused { Reason = reason };
    }

    private void Add(MemberInfo member)
    {
        lock (_members)
        {
            _members[member.Address] = member;
            Publish(new MemberUp(member));
        }
    }

    private void OnAssociationLost(Address address, string reason)
    {
        lock (_members)
        {
            if (!_members.Remove(address, out var member))
                return;
            _log.Warning("Member {NodeId} at {Address} is unreachable: {Reason}", member.NodeId, address, reason);
            Publish(new MemberUnreachable(member, $"node {member.NodeId} at {address} is unreachable: {reason}"));
        }
    }

    private void Publish(MemberEvent memberEvent)
    {
        Debug.Assert(Monitor.IsEntered(_members));
        foreach (var subscriber in _subscribers)
            subscriber.Tell(memberEvent);
    }
}
