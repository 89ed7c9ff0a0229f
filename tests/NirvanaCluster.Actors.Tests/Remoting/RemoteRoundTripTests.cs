using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class RemoteRoundTripTests
{
    private sealed class Echo : Actor
    {
        public Echo()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq, Text = p.Text + " back" }));
            Receive<StopYourself>(_ => Context.Stop(Self));
        }
    }

    /// <summary>Answers a shard with its tensors' names, byte counts and CRC-32Cs, computed on arrival.</summary>
    private sealed class ShardSink : Actor
    {
        public ShardSink()
        {
            ReceiveWithTensors<Shard>((shard, tensors) => Sender.Tell(new Pong
            {
                Text = shard.Name + ":" + string.Join(";", tensors.Select(t => $"{t.Name}/{t.DType}/{string.Join("x", t.Shape)}/{Crc32C.Compute(t.Data.Span):X8}")),
            }));
        }
    }

    [Theory]
    [InlineData(RemotingListener.Sockets)]
    [InlineData(RemotingListener.Kestrel)]
    public async Task A_ping_crosses_real_tcp_and_the_pong_comes_back_to_the_sender(RemotingListener listener)
    {
        await using var server = await TestCluster.StartAsync("server", options: TestCluster.Options(listener));
        await using var client = await TestCluster.StartAsync("client");
        Assert.True(server.Address.Port > 0);
        server.ActorOf(Props.Create(() => new Echo()), "echo");
        var probe = new TestProbe(client);

        var echo = client.Resolve($"{server.Address}/user/echo");
        for (var i = 0; i < 100; i++)
            echo.Tell(new Ping { Seq = i, Text = $"hello {i}" }, probe.Ref);

        for (var i = 0; i < 100; i++)
        {
            var pong = await probe.ExpectAsync<Pong>();
            Assert.Equal(i, pong.Seq);
            Assert.Equal($"hello {i} back", pong.Text);
        }
        Assert.Equal($"{server.Address}/user/echo", probe.LastSender.Path.ToString());
    }

    [Fact]
    public async Task Ask_works_across_systems()
    {
        await using var server = await TestCluster.StartAsync("server");
        await using var client = await TestCluster.StartAsync("client");
        server.ActorOf(Props.Create(() => new Echo()), "echo");
        var pong = await client.Resolve($"{server.Address}/user/echo").Ask<Pong>(new Ping { Seq = 7, Text = "ask" }, TimeSpan.FromSeconds(10));
        Assert.Equal("ask back", pong.Text);
    }

    [Fact]
    public async Task Non_protobuf_and_unregistered_messages_are_refused_at_the_sender()
    {
        await using var server = await TestCluster.StartAsync("server");
        await using var client = await TestCluster.StartAsync("client");
        var remote = client.Resolve($"{server.Address}/user/anyone");

        var plain = Assert.Throws<ArgumentException>(() => remote.Tell("a string"));
        Assert.Contains("System.String", plain.Message);
        Assert.Contains("protobuf", plain.Message);
        var unregistered = Assert.Throws<ArgumentException>(() => remote.Tell(new Unregistered { Value = 1 }));
        Assert.Contains("not in the MessageRegistry", unregistered.Message);
    }

    [Theory]
    [InlineData(RemotingListener.Sockets)]
    [InlineData(RemotingListener.Kestrel)]
    public async Task Large_tensors_arrive_intact_in_checksummed_chunks(RemotingListener listener)
    {
        var options = TestCluster.Options(listener) with { TensorChunkBytes = 1 << 20 };
        await using var server = await TestCluster.StartAsync("server", options: options);
        await using var client = await TestCluster.StartAsync("client", options: options);
        server.ActorOf(Props.Create(() => new ShardSink()), "sink");

        var random = new Random(5);
        var weights = new float[6 << 20]; // 24 MiB: 24 chunks
        for (var i = 0; i < weights.Length; i++)
            weights[i] = (float)random.NextDouble();
        var mask = new byte[1000];
        random.NextBytes(mask);
        var tensors = new[]
        {
            TensorPayload.FromFloats("model.layers.0.mlp.down_proj.weight", weights, 2048, 3072),
            TensorPayload.FromBytes("mask", TensorDType.Uint8, mask, 10, 100),
            TensorPayload.FromFloats("empty", [], 0),
        };

        var reply = await client.Resolve($"{server.Address}/user/sink")
            .Ask<Pong>(new TensorMessage(new Shard { Name = "layer0" }, tensors), TimeSpan.FromSeconds(60));

        var expected = "layer0:" + string.Join(";", tensors.Select(t => $"{t.Name}/{t.DType}/{string.Join("x", t.Shape)}/{Crc32C.Compute(t.Data.Span):X8}"));
        Assert.Equal(expected, reply.Text);
    }

    [Fact]
    public async Task Locally_a_TensorMessage_reaches_the_same_handler_without_copying()
    {
        await using var system = ActorSystem.Create("local");
        var sink = system.ActorOf(Props.Create(() => new ShardSink()));
        var reply = await sink.Ask<Pong>(new TensorMessage(new Shard { Name = "s" }, [TensorPayload.FromFloats("w", [1f, 2f], 2)]), TimeSpan.FromSeconds(10));
        Assert.StartsWith("s:w/Float32/2/", reply.Text);
    }
}
