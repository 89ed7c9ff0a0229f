using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace NirvanaCluster.Actors.Remoting.Transports;

/// <summary>
/// A TCP socket (optionally inside TLS) behind System.IO.Pipelines stream adapters with 1 MiB buffers: a 1 MiB tensor
/// chunk arrives in a few large reads instead of hundreds of 4 KiB ones (several times the throughput of Kestrel's
/// socket pipes on loopback; see the README's transfer benchmark).
/// </summary>
internal sealed class StreamConnection : ITransportConnection
{
    private const int BufferBytes = 1 << 20;
    private const int MinimumReadBytes = 64 << 10;

    private readonly Socket _socket;
    private readonly Stream _stream;

    private StreamConnection(Socket socket, Stream stream, string remoteEndPoint)
    {
        _socket = socket;
        _stream = stream;
        RemoteEndPoint = remoteEndPoint;
        Pipe = new DuplexPipe(
            PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: BufferBytes, minimumReadSize: MinimumReadBytes, leaveOpen: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: BufferBytes, leaveOpen: true)));
    }

    public IDuplexPipe Pipe { get; }

    public string RemoteEndPoint { get; }

    public bool WaitsForWholeFrames => true;

    /// <summary>Dials a TCP endpoint, then TLS when <paramref name="tls"/> is given (the server must present a pinned certificate).</summary>
    public static async Task<StreamConnection> ConnectAsync(string host, int port, RemotingTls? tls, CancellationToken cancellation)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, cancellation);
            var remote = socket.RemoteEndPoint?.ToString() ?? $"{host}:{port}";
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => tls.IsTrusted(certificate),
                }, cancellation);
            }
            return new StreamConnection(socket, stream, remote);
        }
        catch (AuthenticationException e)
        {
            socket.Dispose();
            throw new HandshakeRefusedException($"TLS with {host}:{port} failed: {e.Message} (is its certificate's thumbprint trusted, and does it speak TLS?)");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Wraps an accepted socket, completing the server side of TLS first when <paramref name="tls"/> is given.</summary>
    public static async Task<StreamConnection> AcceptAsync(Socket socket, RemotingTls? tls, CancellationToken cancellation)
    {
        socket.NoDelay = true;
        var remote = socket.RemoteEndPoint?.ToString() ?? "unknown endpoint";
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (tls is not null)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            stream = ssl;
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = tls.Certificate }, cancellation);
            }
            catch
            {
                await ssl.DisposeAsync();
                throw;
            }
        }
        return new StreamConnection(socket, stream, remote);
    }

    public async ValueTask ShutdownSendAsync()
    {
        try
        {
            if (_stream is SslStream ssl)
                await ssl.ShutdownAsync(); // TLS close_notify before the TCP FIN
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // Already reset or closed: nothing left to shut.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Pipe.Input.CompleteAsync();
        await Pipe.Output.CompleteAsync();
        await _stream.DisposeAsync();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
