using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Framing;
using Serilog;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// The data plane between processes: one TCP listener per process. A connection must open with a Hello carrying
/// a token this process was told to expect over the control plane (mutually authenticated Akka.Remote); anything
/// else (no token, a wrong or replayed token, another protocol version, a malformed or oversized frame, silence)
/// is refused with a logged reason and closed. Nothing a peer sends can crash the listener.
/// </summary>
public sealed class TcpDataPlane : IDataPlane
{
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    private static readonly ILogger Log = Serilog.Log.ForContext<TcpDataPlane>();

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, Expectation> _expected = new(StringComparer.Ordinal);
    private readonly Task _acceptLoop;
    private readonly int _chunkSize;
    private readonly TimeSpan _handshakeTimeout;

    private sealed record Expectation(string Purpose, TaskCompletionSource<IDataLink> Link);

    private TcpDataPlane(TcpListener listener, string advertiseHost, int chunkSize, TimeSpan handshakeTimeout)
    {
        _handshakeTimeout = handshakeTimeout;
        _listener = listener;
        _chunkSize = chunkSize;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Endpoint = $"{advertiseHost}:{Port}";
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string Endpoint { get; }
    public int Port { get; }

    /// <summary>Counts refused connections, for tests and logs.</summary>
    public int Refused => _refused;
    private int _refused;

    /// <summary>Listens on <paramref name="bindHost"/>:<paramref name="port"/> (0 picks a free port).</summary>
    public static TcpDataPlane Start(string bindHost, int port, string advertiseHost, int chunkSize = TcpDataLink.DefaultChunkSize, TimeSpan? handshakeTimeout = null)
    {
        var address = bindHost is "0.0.0.0" or "*" ? IPAddress.Any : bindHost is "::" ? IPAddress.IPv6Any
            : IPAddress.TryParse(bindHost, out var ip) ? ip : Dns.GetHostAddresses(bindHost).First();
        var listener = new TcpListener(address, port);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            throw new IOException($"data plane: cannot listen on {bindHost}:{port}: {e.Message}", e);
        }
        return new TcpDataPlane(listener, advertiseHost, chunkSize, handshakeTimeout ?? DefaultHandshakeTimeout);
    }

    public Task<IDataLink> Expect(byte[] token, string purpose, CancellationToken cancellation)
    {
        var key = Convert.ToHexString(token);
        var expectation = new Expectation(purpose, new TaskCompletionSource<IDataLink>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_expected.TryAdd(key, expectation)) throw new InvalidOperationException("a data-plane token was armed twice");
        cancellation.Register(() =>
        {
            if (_expected.TryRemove(key, out var e)) e.Link.TrySetCanceled(cancellation);
        });
        return expectation.Link.Task;
    }

    public async Task<IDataLink> ConnectAsync(string endpoint, byte[] token, string self, CancellationToken cancellation)
    {
        var (host, port) = ParseEndpoint(endpoint);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            TcpDataLink.Tune(socket);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(_handshakeTimeout);
            await socket.ConnectAsync(host, port, timeout.Token);
            var link = new TcpDataLink(socket, endpoint, _chunkSize);
            await DataFrames.WriteMessageAsync(link.Stream, FrameKind.Hello,
                new Hello { ProtocolVersion = ProtocolVersion.Current, Token = Google.Protobuf.ByteString.CopyFrom(token), Peer = self }, timeout.Token);
            var scratch = new byte[DataFrames.HeaderSize];
            var reply = await DataFrames.ReadHeaderAsync(link.Stream, scratch, DataFrames.MaxControlFrame, timeout.Token)
                        ?? throw new DataPlaneException($"data plane at {endpoint} closed the connection during the handshake");
            switch (reply.Kind)
            {
                case FrameKind.Welcome:
                    await DataFrames.ReadMessageAsync(link.Stream, reply.BodyLength, Welcome.Parser, timeout.Token);
                    return link;
                case FrameKind.Refused:
                    var refused = await DataFrames.ReadMessageAsync(link.Stream, reply.BodyLength, Messages.DataPlane.Refused.Parser, timeout.Token);
                    await link.DisposeAsync();
                    throw new DataPlaneException($"data plane at {endpoint} refused the connection: {refused.Reason}");
                default:
                    throw new DataPlaneException($"data plane at {endpoint} answered the handshake with {reply.Kind}");
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or WireProtocolException && e is not DataPlaneException)
        {
            socket.Dispose();
            if (e is OperationCanceledException && cancellation.IsCancellationRequested) throw;
            throw new DataPlaneException($"cannot open a data-plane link to {endpoint}: {e.Message}", e);
        }
    }

    public static (string Host, int Port) ParseEndpoint(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], out var port) || port is <= 0 or > 65535)
            throw new DataPlaneException($"'{endpoint}' is not a data-plane endpoint HOST:PORT");
        return (endpoint[..colon].Trim('[', ']'), port);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested) return;
                Log.Warning("Data plane: accept failed: {Reason}", e.Message);
                continue;
            }
            _ = Task.Run(() => HandshakeAsync(socket));
        }
    }

    /// <summary>Every failure here is the peer's: log it, count it, close the socket; never throw.</summary>
    private async Task HandshakeAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "unknown peer";
        TcpDataLink? link = null;
        try
        {
            TcpDataLink.Tune(socket);
            link = new TcpDataLink(socket, remote, _chunkSize);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_handshakeTimeout);
            Hello hello;
            try
            {
                hello = await DataFrames.ExpectMessageAsync(link.Stream, FrameKind.Hello, Hello.Parser, timeout.Token);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                throw new WireProtocolException($"no Hello within {_handshakeTimeout.TotalSeconds:F0} s");
            }
            if (hello.ProtocolVersion != ProtocolVersion.Current)
                throw new WireProtocolException($"peer speaks protocol version {hello.ProtocolVersion}, this process {ProtocolVersion.Current}");
            if (!_expected.TryRemove(Convert.ToHexString(hello.Token.Span), out var expectation))
                throw new WireProtocolException("unknown or already used data-plane token");
            await DataFrames.WriteMessageAsync(link.Stream, FrameKind.Welcome, new Welcome { ProtocolVersion = ProtocolVersion.Current }, timeout.Token);
            var peer = hello.Peer.Length > 0 ? $"{hello.Peer} ({remote})" : remote;
            Log.Debug("Data plane: accepted {Peer} for {Purpose}", peer, expectation.Purpose);
            link.Peer = peer;
            expectation.Link.TrySetResult(link);
            link = null;
        }
        catch (Exception e) when (e is WireProtocolException or IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _refused);
            Log.Warning("Data plane: refused connection from {Remote}: {Reason}", remote, e.Message);
            if (link is not null)
            {
                try
                {
                    using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    await DataFrames.WriteMessageAsync(link.Stream, FrameKind.Refused, new Messages.DataPlane.Refused { Reason = e.Message }, quick.Token);
                }
                catch (Exception)
                {
                    // The peer may be gone or not reading; the refusal is logged here either way.
                }
                await link.DisposeAsync();
            }
            else socket.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        try { await _acceptLoop; } catch (OperationCanceledException) { }
        foreach (var e in _expected.Values) e.Link.TrySetCanceled();
        _expected.Clear();
        _stopping.Dispose();
    }
}
