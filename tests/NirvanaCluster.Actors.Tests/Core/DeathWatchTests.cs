using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Core;

public class DeathWatchTests
{
    private sealed record WatchIt(ActorRef Target);

    private sealed record UnwatchIt(ActorRef Target);

    /// <summary>Watches on command and forwards everything else it gets (Terminated included) to a probe.</summary>
    private sealed class Watcher : Actor
    {
        public Watcher(ActorRef forwardTo)
        {
            Receive<WatchIt>(w => { Context.Watch(w.Target); Sender.Tell("watching"); });
            Receive<UnwatchIt>(w => { Context.Unwatch(w.Target); Sender.Tell("unwatched"); });
            ReceiveAny(m => forwardTo.Tell(m));
        }
    }

    private sealed class Idle : Actor
    {
        public Idle()
        {
            Receive<string>(_ => { });
        }
    }

    [Fact]
    public async Task A_watcher_gets_Terminated_with_the_reason_when_the_watched_actor_stops()
    {
        await using var system = ActorSystem.Create("watch", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var probe = new TestProbe(system);
        var watcher = system.ActorOf(Props.Create(() => new Watcher(probe.Ref)));
        var target = system.ActorOf(Props.Create(() => new Idle()), "target");
        await watcher.Ask<string>(new WatchIt(target), TimeSpan.FromSeconds(10));

        target.Tell(PoisonPill.Instance);

        var terminated = await probe.ExpectAsync<Terminated>();
        Assert.Equal(target, terminated.Actor);
        Assert.Contains("PoisonPill", terminated.Reason);
    }

    [Fact]
    public async Task Watching_an_actor_that_is_already_gone_delivers_Terminated_at_once()
    {
        await using var system = ActorSystem.Create("watch", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var probe = new TestProbe(system);
        var watcher = system.ActorOf(Props.Create(() => new Watcher(probe.Ref)));
        var target = system.ActorOf(Props.Create(() => new Idle()));
        system.Stop(target);
        await system.WhenTerminated(target).WaitAsync(TimeSpan.FromSeconds(10));

        await watcher.Ask<string>(new WatchIt(target), TimeSpan.FromSeconds(10));
        Assert.Equal(target, (await probe.ExpectAsync<Terminated>()).Actor);
    }

    [Fact]
    public async Task After_Unwatch_no_Terminated_arrives()
    {
        await using var system = ActorSystem.Create("watch", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var probe = new TestProbe(system);
        var watcher = system.ActorOf(Props.Create(() => new Watcher(probe.Ref)));
        var target = system.ActorOf(Props.Create(() => new Idle()));
        await watcher.Ask<string>(new WatchIt(target), TimeSpan.FromSeconds(10));
        await watcher.Ask<string>(new UnwatchIt(target), TimeSpan.FromSeconds(10));

        system.Stop(target);
        await ((LocalActorRef)target).Cell.Terminated.WaitAsync(TimeSpan.FromSeconds(10)); // all watchers told by now
        watcher.Tell("marker");

        // Had a Terminated been delivered, it would have been queued before the marker.
        Assert.Equal("marker", await probe.NextAsync());
    }
}
