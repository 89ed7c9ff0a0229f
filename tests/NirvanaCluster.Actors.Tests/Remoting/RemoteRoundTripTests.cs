using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class RemoteRoundTripTests
{
    private sealed class Echo : Actor
    {
        public Echo()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq, Text = p.Text + " back" }));
        }
    }

    [Fact]
    public async Task A_ping_crosses_real_tcp_and_the_pong_comes_back_to_the_sender()
    {
        var log = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", log);
        await using var client = await TestCluster.StartAsync("client", log);

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
}
