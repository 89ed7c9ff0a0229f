using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Cluster.Tests.DataPlane;

/// <summary>The data plane over real loopback sockets: what arrives is what was sent, and what a stranger sends is refused.</summary>
public sealed class TcpDataPlaneTests : IAsyncLifetime
{
    private TcpDataPlane _server = null!;
    private TcpDataPlane _client = null!;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public Task InitializeAsync()
    {
        // Small chunks so that every tensor spans several, with a short last one.
        _server = TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1", chunkSize: 4096, handshakeTimeout: TimeSpan.FromSeconds(1));
        _client = TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1", chunkSize: 4096);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _client.DisposeAsync();
    }

    private async Task<(IDataLink Sender, IDataLink Receiver)> LinkAsync()
    {
        var token = RandomNumberGenerator.GetBytes(32);
        var accepted = _server.Expect(token, "test", CancellationToken.None);
        var sender = await _client.ConnectAsync(_server.Endpoint, token, "test-client", CancellationToken.None).WaitAsync(Patience);
        return (sender, await accepted.WaitAsync(Patience));
    }

    [Fact]
    public async Task Packets_arrive_bit_for_bit_in_order_in_both_directions()
    {
        var (a, b) = await LinkAsync();
        var random = new Random(7);
        var sizes = new[] { 0, 1, 1023, 1024, 1025, 3000, 70_001 };
        foreach (var n in sizes)
        {
            var floats = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            if (n > 2) floats[1] = float.NaN; // any bit pattern travels, NaN included
            var ints = Enumerable.Range(0, n % 97).Select(_ => random.Next()).ToArray();
            await a.SendAsync(new DataPacket(PacketKind.Activations, 3, n, 2, 5,
                [DataTensor.Ints("tokens", ints, ints.Length), DataTensor.Floats("hidden", floats, 1, floats.Length)]), CancellationToken.None);
            var got = await b.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Patience);
            Assert.NotNull(got);
            Assert.Equal((PacketKind.Activations, 3L, n, 2, 5), (got.Kind, got.PassId, got.MicroBatch, got.Batch, got.Positions));
            Assert.Equal(ints, got.Tensor("tokens").AsInts());
            Assert.Equal(new long[] { 1, n }, got.Tensor("hidden").Shape);
            Assert.Equal(Bits(floats), Bits(got.Tensor("hidden").AsFloats()));
        }
        await b.SendAsync(new DataPacket(PacketKind.Gradient, 3, 9, 1, 1, [DataTensor.Floats("grad", [1f, 2f], 2)]), CancellationToken.None);
        Assert.Equal(new[] { 1f, 2f }, (await a.ReceiveAsync(CancellationToken.None))!.Tensor("grad").AsFloats());
        await a.CloseAsync(CancellationToken.None);
        Assert.Null(await b.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Patience));
        await a.DisposeAsync();
        await b.DisposeAsync();
    }

    [Fact]
    public async Task A_wrong_token_is_refused_and_a_used_token_cannot_be_replayed()
    {
        var wrong = await Assert.ThrowsAsync<DataPlaneException>(() => _client.ConnectAsync(_server.Endpoint, RandomNumberGenerator.GetBytes(32), "intruder", CancellationToken.None));
        Assert.Contains("unknown or already used data-plane token", wrong.Message);

        var token = RandomNumberGenerator.GetBytes(32);
        var accepted = _server.Expect(token, "once", CancellationToken.None);
        await using var first = await _client.ConnectAsync(_server.Endpoint, token, "first", CancellationToken.None);
        await using var link = await accepted;
        var replay = await Assert.ThrowsAsync<DataPlaneException>(() => _client.ConnectAsync(_server.Endpoint, token, "replay", CancellationToken.None));
        Assert.Contains("unknown or already used", replay.Message);
        Assert.Equal(2, _server.Refused);
    }

    [Fact]
    public async Task Strangers_are_refused_without_harm_and_the_listener_keeps_serving()
    {
        // Not our protocol at all (an HTTP request), a frame claiming 2 GiB, a malformed Hello, another protocol
        // version, and silence: each is refused and closed; none takes the listener down.
        await SendRawAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await SendRawAsync(Frame(4, new byte[8], lengthOverride: int.MaxValue));
        await SendRawAsync(Frame(1, [0xff, 0xff, 0xff, 0xff, 0x0f]));
        await SendRawAsync(Frame(1, new Hello { ProtocolVersion = ProtocolVersion.Current + 7, Token = ByteString.CopyFrom(new byte[32]) }.ToByteArray()));
        using (var silent = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await silent.ConnectAsync("127.0.0.1", _server.Port);
            await DrainAsync(silent); // the listener gives up on it after its handshake timeout
        }
        Assert.Equal(5, _server.Refused);
        var (a, b) = await LinkAsync();
        await a.SendAsync(new DataPacket(PacketKind.Weights, 0, -1, 0, 0, [DataTensor.Floats("w", [5f], 1)]), CancellationToken.None);
        Assert.Equal(new[] { 5f }, (await b.ReceiveAsync(CancellationToken.None))!.Tensor("w").AsFloats());
    }

    [Fact]
    public async Task A_corrupted_chunk_fails_its_checksum_and_names_the_tensor()
    {
        var token = RandomNumberGenerator.GetBytes(32);
        var accepted = _server.Expect(token, "corrupt", CancellationToken.None);
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync("127.0.0.1", _server.Port);
        await raw.SendAsync(Frame(1, new Hello { ProtocolVersion = ProtocolVersion.Current, Token = ByteString.CopyFrom(token) }.ToByteArray()), SocketFlags.None);
        var link = await accepted.WaitAsync(Patience);
        var header = new Packet { Kind = PacketKind.Weights, ChunkSize = 4096 };
        header.Tensors.Add(new TensorHeader { Name = "model.norm.weight", Type = TensorType.F32, ByteLength = 8, Shape = { 2 } });
        await raw.SendAsync(Frame(4, header.ToByteArray()), SocketFlags.None);
        var chunk = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(chunk, 0xDEADBEEF); // not the CRC-32C of the 8 zero bytes that follow
        await raw.SendAsync(Frame(5, chunk), SocketFlags.None);
        var e = await Assert.ThrowsAsync<DataPlaneException>(() => link.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Contains("model.norm.weight", e.Message);
        Assert.Contains("CRC-32C", e.Message);
    }

    [Fact]
    public async Task A_tensor_header_that_lies_about_its_size_is_refused_before_anything_is_allocated()
    {
        var token = RandomNumberGenerator.GetBytes(32);
        var accepted = _server.Expect(token, "lies", CancellationToken.None);
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync("127.0.0.1", _server.Port);
        await raw.SendAsync(Frame(1, new Hello { ProtocolVersion = ProtocolVersion.Current, Token = ByteString.CopyFrom(token) }.ToByteArray()), SocketFlags.None);
        var link = await accepted.WaitAsync(Patience);
        var header = new Packet { Kind = PacketKind.Weights, ChunkSize = 4096 };
        header.Tensors.Add(new TensorHeader { Name = "huge", Type = TensorType.F32, ByteLength = 16, Shape = { 1L << 40 } });
        await raw.SendAsync(Frame(4, header.ToByteArray()), SocketFlags.None);
        var e = await Assert.ThrowsAsync<DataPlaneException>(() => link.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Contains("huge", e.Message);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static byte[] Frame(byte kind, byte[] body, int? lengthOverride = null)
    {
        var frame = new byte[5 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, lengthOverride ?? body.Length + 1);
        frame[4] = kind;
        body.CopyTo(frame, 5);
        return frame;
    }

    /// <summary>Sends bytes as a stranger would and waits until the listener has closed the connection.</summary>
    private async Task SendRawAsync(byte[] bytes)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", _server.Port);
        await socket.SendAsync(bytes, SocketFlags.None);
        await DrainAsync(socket);
    }

    private static async Task<int> DrainAsync(Socket socket)
    {
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience) > 0) { }
        }
        catch (SocketException) { } // reset by the listener: closed just the same
        return 0;
    }
}
