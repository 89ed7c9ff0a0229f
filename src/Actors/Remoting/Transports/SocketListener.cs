using System.Net;
using System.Net.Sockets;
using Serilog;

namespace NirvanaCluster.Actors.Remoting.Transports;

/// <summary>Accepts TCP connections on a plain socket and serves each as a <see cref="StreamConnection"/>.</summary>
internal sealed class SocketListener : IRemotingListener
{
    private readonly Socket _socket;
    private readonly AcceptHandler _onAccepted;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    private SocketListener(Socket socket, AcceptHandler onAccepted, ILogger log)
    {
        _socket = socket;
        _onAccepted = onAccepted;
        _log = log;
        Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        using (ExecutionContext.SuppressFlow())
            _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    public static SocketListener Start(IPEndPoint endpoint, AcceptHandler onAccepted, ILogger log)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
            return new SocketListener(socket, onAccepted, log);
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
        var connection = new StreamConnection(socket);
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
