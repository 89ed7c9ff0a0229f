using System.Net;
using System.Net.Sockets;
using Serilog;

namespace NirvanaCluster.Actors.Remoting.Transports;

/// <summary>Accepts TCP connections on a plain socket (TLS when configured) and serves each as a <see cref="StreamConnection"/>.</summary>
internal sealed class SocketListener : IRemotingListener
{
    private readonly Socket _socket;
    private readonly AcceptHandler _onAccepted;
    private readonly RemotingTls? _tls;
    private readonly TimeSpan _tlsTimeout;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    private SocketListener(Socket socket, AcceptHandler onAccepted, RemotingTls? tls, TimeSpan tlsTimeout, ILogger log)
    {
        _socket = socket;
        _onAccepted = onAccepted;
        _tls = tls;
        _tlsTimeout = tlsTimeout;
        _log = log;
        Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        using (ExecutionContext.SuppressFlow())
            _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    public static SocketListener Start(IPEndPoint endpoint, AcceptHandler onAccepted, RemotingTls? tls, TimeSpan tlsTimeout, ILogger log)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
            return new SocketListener(socket, onAccepted, tls, tlsTimeout, log);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new InvalidOperationException($"cannot listen on {endpoint}: {e.Message}", e);
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _log.Warning("Accept on port {Port} failed: {Reason}", Port, e.Message);
                continue;
            }
            _ = Task.Run(() => ServeAsync(accepted));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "unknown endpoint";
        StreamConnection connection;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(_tlsTimeout);
            connection = await StreamConnection.AcceptAsync(socket, _tls, timeout.Token);
        }
        catch (Exception e)
        {
            _log.Warning("Refused connection from {Remote}: TLS failed: {Reason}", remote, e.Message);
            socket.Dispose();
            return;
        }
        try
        {
            await _onAccepted(connection);
        }
        catch (Exception e)
        {
            _log.Error(e, "Serving the connection from {Remote} failed", connection.RemoteEndPoint);
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        await _acceptLoop;
    }
}
