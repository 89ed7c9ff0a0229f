using System.Buffers;
using Google.Protobuf;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Wire;
using Serilog.Events;

namespace NirvanaCluster.Actors.Tests.Remoting;

/// <summary>Peers that are unauthenticated, speak another version, or send oversized, garbage or corrupt data.</summary>
public class SecurityTests
{
    private sealed class Forwarder : Actor
    {
        public Forwarder(ActorRef to)
        {
            ReceiveAny(m => to.Tell(m));
        }
    }

    private sealed class Echo : Actor
    {
        public Echo()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq }));
        }
    }

    /// <summary>The server still serves a well-behaved client after whatever a test threw at it.</summary>
    private static async Task AssertStillServesAsync(ActorSystem server)
    {
        var echo = server.ActorOf(Props.Create(() => new Echo()));
        await using var client = await TestCluster.StartAsync("wellbehaved");
        var pong = await client.Resolve(echo.Path).Ask<Pong>(new Ping { Seq = 99 }, TimeSpan.FromSeconds(10));
        Assert.Equal(99, pong.Seq);
    }

    private static Refused? ParseRefusal(byte[] received)
    {
        var buffer = new ReadOnlySequence<byte>(received);
        while (FrameHeader.TryRead(ref buffer, 1 << 16, out var kind, out var body))
            if (kind == FrameKind.Handshake && Handshake.Parser.ParseFrom(body).Refused is { } refused)
                return refused;
        return null;
    }

    [Fact]
    public async Task A_peer_with_the_wrong_secret_is_refused_and_nothing_it_sends_is_delivered()
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog);
        var probe = new TestProbe(server, "inbox");
        await using var intruder = await TestCluster.StartAsync("intruder", options: TestCluster.Options(ClusterSecret.FromString("not-the-cluster-secret-at-all")));

        intruder.Resolve(probe.Ref.Path).Tell(new Ping { Text = "let me in" });
        var join = await Assert.ThrowsAsync<ClusterJoinException>(() => intruder.Cluster.JoinAsync(server.Address, TimeSpan.FromSeconds(10)));

        Assert.Contains("authentication failed", join.Message);
        var logged = await serverLog.WaitForAsync(LogEventLevel.Warning, "Refused connection from", "authentication failed");
        Assert.Contains("nirvana://intruder@", logged);
        Assert.False(probe.TryTake(out _));
        Assert.Empty(server.Cluster.Members);
        await AssertStillServesAsync(server);
    }

    [Theory]
    [InlineData(RemotingListener.Sockets)]
    [InlineData(RemotingListener.Kestrel)]
    public async Task A_peer_that_speaks_another_protocol_version_is_told_why_and_disconnected(RemotingListener listener)
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog, TestCluster.Options(listener));
        await using var peer = await RawPeer.ConnectAsync(server.Address);

        var hello = new Hello { ProtocolVersion = 99, Address = RawPeer.FakeAddress.ToString(), ClientNonce = ByteString.CopyFrom(new byte[32]) };
        await peer.SendProtobufAsync(FrameKind.Handshake, new Handshake { Hello = hello });

        var refusal = ParseRefusal(await peer.ReadUntilClosedAsync());
        Assert.NotNull(refusal);
        Assert.Contains("protocol version 99 is not supported", refusal.Reason);
        await serverLog.WaitForAsync(LogEventLevel.Warning, "Refused connection from", "protocol version 99");
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task An_oversized_frame_before_the_handshake_closes_the_connection()
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog);
        await using var peer = await RawPeer.ConnectAsync(server.Address);

        await peer.SendBytesAsync(new byte[] { 0, 0, 0, 0x40, (byte)FrameKind.Handshake }); // claims 1 GiB

        await peer.ReadUntilClosedAsync();
        await serverLog.WaitForAsync(LogEventLevel.Warning, "Refused connection from", "exceeds the maximum frame size of 16384");
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task An_oversized_frame_from_an_authenticated_peer_closes_the_connection()
    {
        var serverLog = new LogCapture();
        var options = TestCluster.Options() with { MaxFrameBytes = 64 << 10, TensorChunkBytes = 32 << 10 };
        await using var server = await TestCluster.StartAsync("server", serverLog, options);
        await using var peer = await RawPeer.ConnectAsync(server.Address);
        await peer.HandshakeAsync(server.Address, TestCluster.Secret);

        await peer.SendFrameAsync(w => FrameHeader.Write(w, FrameKind.Envelope, 100 << 20));

        await peer.ReadUntilClosedAsync();
        await serverLog.WaitForAsync(LogEventLevel.Warning, "exceeds the maximum frame size of 65536");
        await AssertStillServesAsync(server);
    }

    [Theory]
    [InlineData(RemotingListener.Sockets)]
    [InlineData(RemotingListener.Kestrel)]
    public async Task Garbage_bytes_before_or_after_the_handshake_do_not_hurt_the_server(RemotingListener listener)
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog, TestCluster.Options(listener));
        var garbage = new byte[64 << 10];
        new Random(3).NextBytes(garbage);

        await using (var before = await RawPeer.ConnectAsync(server.Address))
        {
            await before.SendBytesAsync(garbage);
            await before.ReadUntilClosedAsync();
        }
        await using (var after = await RawPeer.ConnectAsync(server.Address))
        {
            await after.HandshakeAsync(server.Address, TestCluster.Secret);
            await after.SendBytesAsync(garbage);
            await after.ReadUntilClosedAsync();
        }
        await using (var silent = await RawPeer.ConnectAsync(server.Address))
        {
            await silent.SendBytesAsync(new byte[] { 1, 2 }); // then nothing: the handshake timeout closes it
        }

        await serverLog.WaitForAsync(LogEventLevel.Warning, "protocol violation by nirvana://raw@");
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task A_corrupted_tensor_chunk_is_an_error_and_the_message_is_never_delivered()
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog);
        var probe = new TestProbe(server);
        var sink = server.ActorOf(Props.Create(() => new Forwarder(probe.Ref)), "sink");
        await using var peer = await RawPeer.ConnectAsync(server.Address);
        await peer.HandshakeAsync(server.Address, TestCluster.Secret);

        var data = new byte[8192];
        new Random(4).NextBytes(data);
        var descriptor = new TensorDescriptor { TransferId = 1, Name = "lm_head.weight", Dtype = TensorDType.Uint8, ByteLength = 8192, ChunkSize = 4096 };
        descriptor.Shape.Add(8192);
        var envelope = new Envelope { Target = sink.Path.ToString(), TypeName = Shard.Descriptor.FullName, Payload = new Shard { Name = "s" }.ToByteString() };
        envelope.Tensors.Add(descriptor);
        await peer.SendProtobufAsync(FrameKind.Envelope, envelope);
        await peer.SendFrameAsync(w =>
        {
            var first = TensorFrames.WriteChunk(w, 1, 0, data.AsSpan(0, 4096));
            var corrupted = (byte[])data.Clone();
            var goodCrc = Crc32C.Compute(data.AsSpan(4096));
            corrupted[5000] ^= 1; // one bit flipped in flight, after the sender computed its checksum
            FrameHeader.Write(w, FrameKind.TensorChunk, TensorChunkHeader.Size + 4096);
            var header = w.GetSpan(TensorChunkHeader.Size);
            new TensorChunkHeader(1, 1, goodCrc).Write(header);
            w.Advance(TensorChunkHeader.Size);
            w.Write(corrupted.AsSpan(4096));
            TensorFrames.WriteEnd(w, new TensorEndFrame(1, 2, Crc32C.Combine(first, goodCrc, 4096), 8192));
        });

        await peer.ReadUntilClosedAsync();
        var logged = await serverLog.WaitForAsync(LogEventLevel.Warning, "lm_head.weight", "chunk 1 of 2", "CRC-32C");
        Assert.Contains("corrupt", logged);
        Assert.False(probe.TryTake(out _));
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task Unknown_types_and_malformed_payloads_are_refused_but_the_connection_stays()
    {
        var serverLog = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", serverLog);
        var probe = new TestProbe(server);
        var sink = server.ActorOf(Props.Create(() => new Forwarder(probe.Ref)), "sink");
        await using var peer = await RawPeer.ConnectAsync(server.Address);
        await peer.HandshakeAsync(server.Address, TestCluster.Secret);

        await peer.SendProtobufAsync(FrameKind.Envelope, new Envelope { Target = sink.Path.ToString(), TypeName = "evil.Payload", Payload = ByteString.CopyFromUtf8("x") });
        await peer.SendProtobufAsync(FrameKind.Envelope, new Envelope { Target = sink.Path.ToString(), TypeName = Ping.Descriptor.FullName, Payload = ByteString.CopyFrom(0xFF, 0xFF, 0xFF) });
        await peer.SendProtobufAsync(FrameKind.Envelope, new Envelope { Target = sink.Path.ToString(), TypeName = Ping.Descriptor.FullName, Payload = new Ping { Seq = 5 }.ToByteString() });

        Assert.Equal(5, (await probe.ExpectAsync<Ping>()).Seq); // the good message after the two bad ones
        await serverLog.WaitForAsync(LogEventLevel.Warning, "Refused a message from", "'evil.Payload' is not registered");
        await serverLog.WaitForAsync(LogEventLevel.Warning, "Refused a message from", "malformed nirvana.tests.Ping");
    }

    [Fact]
    public void Handshake_proofs_depend_on_secret_nonces_and_address()
    {
        var nonceA = new byte[32];
        var nonceB = Enumerable.Repeat((byte)1, 32).ToArray();
        var proof = HandshakeProtocol.Proof(TestCluster.Secret, "label"u8, nonceA, nonceB, "nirvana://a@h:1");
        Assert.Equal(32, proof.Length);
        Assert.NotEqual(proof, HandshakeProtocol.Proof(ClusterSecret.FromString("another-secret-of-length"), "label"u8, nonceA, nonceB, "nirvana://a@h:1"));
        Assert.NotEqual(proof, HandshakeProtocol.Proof(TestCluster.Secret, "label"u8, nonceB, nonceA, "nirvana://a@h:1"));
        Assert.NotEqual(proof, HandshakeProtocol.Proof(TestCluster.Secret, "label"u8, nonceA, nonceB, "nirvana://b@h:1"));
        Assert.Equal(proof, HandshakeProtocol.Proof(TestCluster.Secret, "label"u8, nonceA, nonceB, "nirvana://a@h:1"));
    }
}
