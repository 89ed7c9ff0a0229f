using System.Net.Sockets;
using System.Threading.Channels;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting.Transports;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>Associations: dialing, accepting (handshake first), and losing a remote node.</summary>
internal sealed partial class RemoteTransport
{
    private Association GetOrDial(Address address)
    {
        while (true)
        {
            if (_associations.TryGetValue(address, out var existing))
                return existing;
            var created = new Association(address);
            if (_associations.TryAdd(address, created))
            {
                Run(() => DialAsync(created));
                return created;
            }
        }
    }

    private async Task DialAsync(Association association)
    {
        var target = association.Remote;
        StreamConnection? link = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(Options.ConnectTimeout + Options.HandshakeTimeout);
            link = await StreamConnection.ConnectAsync(target.Host!, target.Port!.Value, Options.Tls, timeout.Token);
            var server = await HandshakeProtocol.ConnectAsync(link.Pipe, LocalAddress, target, Options.Secret, timeout.Token);
            if (server != target)
                Log.Warning("Dialed {Target} but it calls itself {Canonical}; use the address it reports to avoid a second connection", target, server);
            var connection = new Connection(this, target, link, association.Outbox.Reader, association.Outbox.Writer);
            if (!association.TryAttach(connection))
                return;
            Log.Information("Connected to {Peer}", target);
            var reason = await connection.RunAsync();
            Lose(association, reason);
            await connection.CloseAsync(reason);
        }
        catch (Exception e)
        {
            var reason = e switch
            {
                OperationCanceledException when _shutdown.IsCancellationRequested => "local actor system shutting down",
                OperationCanceledException => $"could not connect to {target} within {(Options.ConnectTimeout + Options.HandshakeTimeout).TotalSeconds:F1} s",
                HandshakeRefusedException => e.Message,
                _ => $"could not connect to {target}: {e.Message}",
            };
            Log.Warning("Connection to {Peer} failed: {Reason}", target, reason);
            Lose(association, reason);
        }
        finally
        {
            if (link is not null)
                await link.DisposeAsync();
        }
    }

    private async Task AcceptAsync(ITransportConnection link)
    {
        var remote = link.RemoteEndPoint;
        Address peer;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(Options.HandshakeTimeout);
            peer = await HandshakeProtocol.AcceptAsync(link.Pipe, LocalAddress, Options.Secret, timeout.Token);
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException ? $"no complete handshake within {Options.HandshakeTimeout.TotalSeconds:F1} s" : e.Message;
            Log.Warning("Refused connection from {Remote}: {Reason}", remote, reason);
            await CompleteQuietlyAsync(link); // then FIN, so the peer can read the refusal
            return;
        }

        var association = new Association(peer);
        Connection connection;
        while (true)
        {
            if (_associations.TryAdd(peer, association))
            {
                connection = new Connection(this, peer, link, association.Outbox.Reader, association.Outbox.Writer);
                break;
            }
            if (_associations.TryGetValue(peer, out var existing))
            {
                // We dialed them while they dialed us: our dialed connection carries our messages, this one theirs.
                association = existing;
                var heartbeats = Channel.CreateUnbounded<Outbound>();
                connection = new Connection(this, peer, link, heartbeats.Reader, heartbeats.Writer);
                break;
            }
        }
        if (!association.TryAttach(connection))
        {
            await CompleteQuietlyAsync(link);
            return;
        }
        Log.Information("Accepted connection from {Peer} ({Remote})", peer, remote);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Track(done.Task);
        try
        {
            var reason = await connection.RunAsync();
            Lose(association, reason);
            await connection.CloseAsync(reason);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private static async Task CompleteQuietlyAsync(ITransportConnection link)
    {
        try
        {
            await link.Pipe.Output.CompleteAsync();
            await link.ShutdownSendAsync();
            await link.Pipe.Input.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or SocketException)
        {
            // Already broken: nothing left to complete.
        }
    }

    private void Lose(Association association, string reason)
    {
        if (!association.TryMarkLost(reason, out var dropped))
            return;
        _associations.TryRemove(new KeyValuePair<Address, Association>(association.Remote, association));
        if (_shutdown.IsCancellationRequested)
            return;
        Log.Warning("Node {Peer} is unreachable: {Reason}", association.Remote, reason);
        if (dropped > 0)
            Log.Warning("Dropped {Count} queued messages to {Peer}", dropped, association.Remote);
        _watches.OnAddressLost(association.Remote, $"node {association.Remote} is unreachable: {reason}");
        try
        {
            AssociationLost?.Invoke(association.Remote, reason);
        }
        catch (Exception e)
        {
            Log.Error(e, "An AssociationLost handler failed for {Peer}", association.Remote);
        }
    }
}
