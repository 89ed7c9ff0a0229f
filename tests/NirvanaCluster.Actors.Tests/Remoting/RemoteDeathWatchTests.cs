using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class RemoteDeathWatchTests
{
    private sealed class Stoppable : Actor
    {
        public Stoppable()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq }));
            Receive<StopYourself>(_ => Context.Stop(Self));
        }
    }

    private sealed record WatchIt(ActorRef Target);

    private sealed class Watcher : Actor
    {
        public Watcher(ActorRef forwardTo)
        {
            Receive<WatchIt>(w => { Context.Watch(w.Target); Sender.Tell("watching"); });
            ReceiveAny(m => forwardTo.Tell(m));
        }
    }

    [Fact]
    public async Task A_remote_actor_that_stops_is_reported_to_its_watcher_with_the_reason()
    {
        await using var server = await TestCluster.StartAsync("server");
        await using var client = await TestCluster.StartAsync("client");
        server.ActorOf(Props.Create(() => new Stoppable()), "worker");
        var probe = new TestProbe(client);
        var watcher = client.ActorOf(Props.Create(() => new Watcher(probe.Ref)));
        var worker = client.Resolve($"{server.Address}/user/worker");
        await worker.Ask<Pong>(new Ping(), TimeSpan.FromSeconds(10)); // connected and alive
        await watcher.Ask<string>(new WatchIt(worker), TimeSpan.FromSeconds(10));

        worker.Tell(new StopYourself());

        var terminated = await probe.ExpectAsync<Terminated>();
        Assert.Equal(worker, terminated.Actor);
        Assert.Equal("stopped itself", terminated.Reason);
    }

    [Fact]
    public async Task Watching_a_remote_path_with_no_actor_reports_it_missing()
    {
        await using var server = await TestCluster.StartAsync("server");
        await using var client = await TestCluster.StartAsync("client");
        var terminated = await client.WhenTerminated(client.Resolve($"{server.Address}/user/nobody")).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("no actor at", terminated.Reason);
        Assert.Contains("/user/nobody", terminated.Reason);
    }

    [Fact]
    public async Task When_the_remote_system_exits_its_actors_watchers_get_Terminated_naming_the_node()
    {
        var server = await TestCluster.StartAsync("server");
        await using var client = await TestCluster.StartAsync("client");
        server.ActorOf(Props.Create(() => new Stoppable()), "worker");
        var worker = client.Resolve($"{server.Address}/user/worker");
        await worker.Ask<Pong>(new Ping(), TimeSpan.FromSeconds(10));
        var pendingAsk = worker.Ask<Pong>(new StopYourself(), TimeSpan.FromSeconds(60)); // never answered
        var gone = client.WhenTerminated(worker);
        var serverAddress = server.Address;

        await server.TerminateAsync();

        var terminated = await gone.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains(serverAddress.ToString(), terminated.Reason);
        await Assert.ThrowsAsync<ActorTerminatedException>(() => pendingAsk.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
