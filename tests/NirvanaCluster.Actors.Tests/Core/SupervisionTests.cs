using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Core;

public class SupervisionTests
{
    private sealed record Hook(string Name, int Instance, string? Detail = null);

    private sealed class Fragile : Actor
    {
        private static int s_instances;
        private readonly int _instance = Interlocked.Increment(ref s_instances);
        private readonly ActorRef _events;
        private int _count;

        public Fragile(ActorRef events)
        {
            _events = events;
            Receive<string>(m =>
            {
                if (m == "boom")
                    throw new InvalidOperationException("boom requested");
                _count++;
                Sender.Tell(new Hook("count", _instance, _count.ToString()));
            });
        }

        protected override void PreStart() => _events.Tell(new Hook("PreStart", _instance));

        protected override void PostStop() => _events.Tell(new Hook("PostStop", _instance));

        protected override void PreRestart(Exception cause, object? message)
        {
            _events.Tell(new Hook("PreRestart", _instance, $"{cause.Message}/{message}"));
            base.PreRestart(cause, message);
        }

        protected override void PostRestart(Exception cause)
        {
            _events.Tell(new Hook("PostRestart", _instance, cause.Message));
            base.PostRestart(cause);
        }
    }

    [Fact]
    public async Task A_failing_actor_is_restarted_with_a_fresh_instance_then_stopped_past_the_limit()
    {
        var log = new LogCapture();
        await using var system = ActorSystem.Create("supervision", new ActorSystemOptions { Logger = log.Logger });
        var events = new TestProbe(system);
        var props = Props.Create(() => new Fragile(events.Ref)).WithSupervisorStrategy(new SupervisorStrategy(2, TimeSpan.FromMinutes(1)));
        var fragile = system.ActorOf(props, "fragile");
        var terminated = system.WhenTerminated(fragile);
        var first = (await events.ExpectAsync<Hook>()).Instance;

        Assert.Equal("1", (await fragile.Ask<Hook>("tick", TimeSpan.FromSeconds(10))).Detail);
        Assert.Equal("2", (await fragile.Ask<Hook>("tick", TimeSpan.FromSeconds(10))).Detail);

        // Failure 1: old instance sees PreRestart (then its PostStop), the new one PostRestart (then its PreStart).
        fragile.Tell("boom");
        Assert.Equal(new Hook("PreRestart", first, "boom requested/boom"), await events.ExpectAsync<Hook>());
        Assert.Equal(new Hook("PostStop", first), await events.ExpectAsync<Hook>());
        var restarted = await events.ExpectAsync<Hook>();
        Assert.Equal("PostRestart", restarted.Name);
        Assert.NotEqual(first, restarted.Instance);
        Assert.Equal(new Hook("PreStart", restarted.Instance), await events.ExpectAsync<Hook>());

        // The reference is unchanged and the state is fresh.
        var after = await fragile.Ask<Hook>("tick", TimeSpan.FromSeconds(10));
        Assert.Equal(restarted.Instance, after.Instance);
        Assert.Equal("1", after.Detail);

        fragile.Tell("boom"); // failure 2: second restart, still within the limit of 2
        fragile.Tell("boom"); // failure 3 within the window: stop
        var notice = await terminated.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(fragile, notice.Actor);
        Assert.Contains("3 failures", notice.Reason);
        Assert.Contains("boom requested", notice.Reason);
        await log.WaitForAsync(Serilog.Events.LogEventLevel.Error, "/user/fragile", "failed");
    }

    [Fact]
    public async Task Resume_keeps_the_instance_and_its_state()
    {
        await using var system = ActorSystem.Create("resume", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var events = new TestProbe(system);
        var props = Props.Create(() => new Fragile(events.Ref)).WithSupervisorStrategy(new SupervisorStrategy(0, TimeSpan.FromSeconds(1), _ => Directive.Resume));
        var fragile = system.ActorOf(props);
        Assert.Equal("1", (await fragile.Ask<Hook>("tick", TimeSpan.FromSeconds(10))).Detail);
        fragile.Tell("boom");
        fragile.Tell("boom");
        Assert.Equal("2", (await fragile.Ask<Hook>("tick", TimeSpan.FromSeconds(10))).Detail);
    }

    [Fact]
    public async Task StopOnFailure_stops_at_the_first_exception()
    {
        await using var system = ActorSystem.Create("stop", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var events = new TestProbe(system);
        var fragile = system.ActorOf(Props.Create(() => new Fragile(events.Ref)).WithSupervisorStrategy(SupervisorStrategy.StopOnFailure));
        var terminated = system.WhenTerminated(fragile);
        fragile.Tell("boom");
        var notice = await terminated.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("InvalidOperationException: boom requested", notice.Reason);
    }

    private sealed class FailsToStart : Actor
    {
        public FailsToStart() => throw new InvalidOperationException("constructor failed");
    }

    [Fact]
    public async Task An_actor_whose_constructor_throws_is_retried_then_stopped()
    {
        await using var system = ActorSystem.Create("ctor", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var actor = system.ActorOf(Props.Create(() => new FailsToStart()).WithSupervisorStrategy(new SupervisorStrategy(2, TimeSpan.FromMinutes(1))));
        var notice = await system.WhenTerminated(actor).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("3 failures", notice.Reason);
        Assert.Contains("constructor failed", notice.Reason);
    }

    private sealed class Parent : Actor
    {
        public Parent(ActorRef events)
        {
            Receive<string>(name => Sender.Tell(Context.ActorOf(Props.Create(() => new Fragile(events)), name)));
        }
    }

    [Fact]
    public async Task Stopping_a_parent_stops_its_children_first()
    {
        await using var system = ActorSystem.Create("family", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var events = new TestProbe(system);
        var parent = system.ActorOf(Props.Create(() => new Parent(events.Ref)), "parent");
        var child = await parent.Ask<ActorRef>("kid", TimeSpan.FromSeconds(10));
        Assert.Equal("/user/parent/kid", child.Path.LocalPath);
        Assert.Equal("PreStart", (await events.ExpectAsync<Hook>()).Name);
        var childGone = system.WhenTerminated(child);
        var parentGone = system.WhenTerminated(parent);

        system.Stop(parent);

        Assert.Equal("PostStop", (await events.ExpectAsync<Hook>()).Name);
        Assert.Contains("parent stopping", (await childGone.WaitAsync(TimeSpan.FromSeconds(10))).Reason);
        await parentGone.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(childGone.IsCompleted);
    }
}
