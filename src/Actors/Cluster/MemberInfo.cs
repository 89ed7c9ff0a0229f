using NirvanaCluster.Actors.Core;
using NirvanaCluster.Messages.Cluster;

namespace NirvanaCluster.Actors.Cluster;

/// <summary>A cluster member as it announced itself when joining (or welcoming).</summary>
public sealed record MemberInfo(string NodeId, Address Address, string Host, int Pid, long MemoryBudgetBytes, string Device)
{
    public NodeInfo ToProto() => new()
    {
        NodeId = NodeId,
        Address = Address.ToString(),
        Host = Host,
        Pid = Pid,
        MemoryBudgetBytes = MemoryBudgetBytes,
        Device = Device,
    };

    /// <summary>Reads announced info, keeping the address the connection proved rather than the one claimed.</summary>
    public static MemberInfo FromProto(NodeInfo node, Address address) =>
        new(node.NodeId, address, node.Host, node.Pid, node.MemoryBudgetBytes, node.Device);
}

/// <summary>Published to membership subscribers.</summary>
public abstract record MemberEvent(MemberInfo Member);

/// <summary>A node joined this seed, or this node joined a seed, or a subscriber is told of a member already up.</summary>
public sealed record MemberUp(MemberInfo Member) : MemberEvent(Member);

/// <summary>A member's connection dropped or it stopped heartbeating; <see cref="Reason"/> says which and names it.</summary>
public sealed record MemberUnreachable(MemberInfo Member, string Reason) : MemberEvent(Member);

/// <summary>The seed refused a join, or could not be reached.</summary>
public sealed class ClusterJoinException(string message, Exception? inner = null) : Exception(message, inner);
