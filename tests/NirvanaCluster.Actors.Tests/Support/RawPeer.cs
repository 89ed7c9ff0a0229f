using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Actors.Tests.Support;

/// <summary>
/// A hand-driven TCP client for the remoting port: speaks the handshake when asked, then writes whatever frames (or
/// garbage) a test wants, to check that the server refuses them and survives.
/// </summary>
public sealed class RawPeer : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private RawPeer(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        Reader = PipeReader.Create(_stream);
        Writer = PipeWriter.Create(_stream);
    }

    public PipeReader Reader { get; }

    public PipeWriter Writer { get; }

    public static readonly Address FakeAddress = new("raw", "127.0.0.1", 1);

    public static async Task<RawPeer> ConnectAsync(Address server)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(server.Host!, server.Port!.Value);
        return new RawPeer(client);
    }

    /// <summary>Completes the real handshake with the given secret; returns the server's address.</summary>
    public Task<Address> HandshakeAsync(Address server, ClusterSecret secret) =>
        HandshakeProtocol.ConnectAsync(new DuplexPipe(Reader, Writer), FakeAddress, server, secret, CancellationToken.None);

    public async Task SendBytesAsync(ReadOnlyMemory<byte> bytes)
    {
        await Writer.WriteAsync(bytes);
    }

    public async Task SendProtobufAsync(FrameKind kind, IMessage message)
    {
        ProtobufFrames.Write(Writer, kind, message);
        await Writer.FlushAsync();
    }

    public async Task SendFrameAsync(Action<IBufferWriter<byte>> write)
    {
        write(Writer);
        await Writer.FlushAsync();
    }

    /// <summary>Reads until the server closes the connection; fails the test if it stays open.</summary>
    public async Task<byte[]> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        var received = new List<byte>();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var result = await Reader.ReadAsync(cancel.Token);
                received.AddRange(result.Buffer.ToArray());
                Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return [.. received];
            }
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException("the server kept the connection open");
        }
        catch (IOException)
        {
            return [.. received]; // reset by the server: closed as well
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync();
        await Writer.CompleteAsync();
        _client.Dispose();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
