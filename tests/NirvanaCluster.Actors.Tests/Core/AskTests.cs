using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Core;

public class AskTests
{
    private sealed class Doubler : Actor
    {
        public Doubler()
        {
            Receive<int>(n => Sender.Tell(n * 2));
            Receive<string>(_ => { }); // never answers
            ReceiveAsync<double>(async x =>
            {
                await Task.Yield();
                Sender.Tell($"async {x}"); // Sender survives the await
            });
        }
    }

    [Fact]
    public async Task Ask_returns_the_reply_from_sync_and_async_handlers()
    {
        await using var system = ActorSystem.Create("ask", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var doubler = system.ActorOf(Props.Create(() => new Doubler()));
        Assert.Equal(42, await doubler.Ask<int>(21, TimeSpan.FromSeconds(10)));
        Assert.Equal("async 1.5", await doubler.Ask<string>(1.5, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Ask_times_out_naming_the_target_and_message()
    {
        await using var system = ActorSystem.Create("ask", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var doubler = system.ActorOf(Props.Create(() => new Doubler()), "doubler");
        var e = await Assert.ThrowsAsync<TimeoutException>(() => doubler.Ask<int>("no answer", TimeSpan.FromMilliseconds(50)));
        Assert.Contains("/user/doubler", e.Message);
        Assert.Contains("String", e.Message);
    }

    [Fact]
    public async Task Ask_with_the_wrong_reply_type_says_what_came_back()
    {
        await using var system = ActorSystem.Create("ask", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var doubler = system.ActorOf(Props.Create(() => new Doubler()));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => doubler.Ask<string>(1, TimeSpan.FromSeconds(10)));
        Assert.Contains("Int32", e.Message);
    }

    [Fact]
    public async Task Ask_to_an_actor_that_stops_fails_at_once_with_the_reason()
    {
        await using var system = ActorSystem.Create("ask", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var doubler = system.ActorOf(Props.Create(() => new Doubler()), "doomed");
        var pending = doubler.Ask<int>("never answered", TimeSpan.FromSeconds(30));
        system.Stop(doubler);
        var e = await Assert.ThrowsAsync<ActorTerminatedException>(() => pending.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(doubler, e.Actor);
        Assert.Contains("stopped", e.Reason);
    }
}
