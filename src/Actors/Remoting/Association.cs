using System.Threading.Channels;
using NirvanaCluster.Actors.Core;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// Everything this system has with one remote address: the outbox all messages to it go through (in order) and the
/// connections open to it. The first connection drains the outbox; one opened concurrently by the other side only
/// carries its own heartbeats and inbound traffic. Losing any connection loses the association (the peer is then
/// unreachable; a later send dials afresh).
/// </summary>
internal sealed class Association(Address remote)
{
    private readonly List<Connection> _connections = [];
    private bool _lost;

    public Address Remote { get; } = remote;

    public Channel<Outbound> Outbox { get; } = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions { SingleReader = false });

    /// <summary>Adds a connection; false when the association was lost meanwhile (the caller closes it).</summary>
    public bool TryAttach(Connection connection)
    {
        lock (_connections)
        {
            if (_lost)
                return false;
            _connections.Add(connection);
            return true;
        }
    }

    /// <summary>Marks the association lost, once; closes its connections and returns how many queued messages were dropped.</summary>
    public bool TryMarkLost(string reason, out int droppedMessages)
    {
        List<Connection> connections;
        lock (_connections)
        {
            droppedMessages = 0;
            if (_lost)
                return false;
            _lost = true;
            connections = [.. _connections];
            _connections.Clear();
        }
        foreach (var connection in connections)
            connection.Close(reason); // before the outbox ends, so the connection reports this reason, not "outbox closed"
        Outbox.Writer.TryComplete();
        while (Outbox.Reader.TryRead(out var item))
            if (item is OutboundEnvelope)
                droppedMessages++;
        return true;
    }
}
