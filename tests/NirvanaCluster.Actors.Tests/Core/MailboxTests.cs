using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Core;

public class MailboxTests
{
    private sealed record Item(int Producer, int Seq);

    private sealed record Report(int Count, int MaxConcurrent, bool InOrderPerProducer);

    private sealed class Recorder : Actor
    {
        private readonly Dictionary<int, int> _lastSeq = [];
        private int _active;
        private int _maxActive;
        private int _count;
        private bool _inOrder = true;

        public Recorder(int expected, ActorRef reportTo)
        {
            // An async handler that yields mid-way: if two messages ever overlapped, _active would reach 2.
            ReceiveAsync<Item>(async item =>
            {
                _maxActive = Math.Max(_maxActive, Interlocked.Increment(ref _active));
                await Task.Yield();
                if (_lastSeq.TryGetValue(item.Producer, out var last) && item.Seq != last + 1)
                    _inOrder = false;
                _lastSeq[item.Producer] = item.Seq;
                await Task.Yield();
                Interlocked.Decrement(ref _active);
                if (++_count == expected)
                    reportTo.Tell(new Report(_count, _maxActive, _inOrder));
            });
        }
    }

    [Fact]
    public async Task Messages_from_each_sender_arrive_in_order_and_are_handled_one_at_a_time()
    {
        await using var system = ActorSystem.Create("mailbox", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var probe = new TestProbe(system);
        const int producers = 4, perProducer = 500;
        var recorder = system.ActorOf(Props.Create(() => new Recorder(producers * perProducer, probe.Ref)));

        await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < perProducer; i++)
                recorder.Tell(new Item(p, i));
        })));

        var report = await probe.ExpectAsync<Report>();
        Assert.Equal(producers * perProducer, report.Count);
        Assert.Equal(1, report.MaxConcurrent);
        Assert.True(report.InOrderPerProducer);
    }

    private sealed class Turnstile : Actor
    {
        private int _coins;

        public Turnstile()
        {
            Become(Locked);
        }

        private void Locked()
        {
            Receive<string>(m =>
            {
                if (m == "coin")
                {
                    _coins++;
                    Become(Unlocked);
                }
                Sender.Tell($"locked:{m}:{_coins}");
            });
        }

        private void Unlocked()
        {
            Receive<string>(m =>
            {
                if (m == "push")
                    Become(Locked);
                Sender.Tell($"unlocked:{m}:{_coins}");
            });
        }
    }

    [Fact]
    public async Task Become_swaps_the_handlers_and_keeps_the_state()
    {
        await using var system = ActorSystem.Create("become", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var turnstile = system.ActorOf(Props.Create(() => new Turnstile()));
        var timeout = TimeSpan.FromSeconds(10);

        Assert.Equal("locked:push:0", await turnstile.Ask<string>("push", timeout));
        Assert.Equal("locked:coin:1", await turnstile.Ask<string>("coin", timeout));
        Assert.Equal("unlocked:coin:1", await turnstile.Ask<string>("coin", timeout));
        Assert.Equal("unlocked:push:1", await turnstile.Ask<string>("push", timeout));
        Assert.Equal("locked:push:1", await turnstile.Ask<string>("push", timeout));
    }

    private sealed class Silent : Actor
    {
        public Silent()
        {
            Receive<string>(_ => { });
        }
    }

    [Fact]
    public async Task Unhandled_messages_are_logged_with_their_type_and_dropped()
    {
        var log = new LogCapture();
        await using var system = ActorSystem.Create("unhandled", new ActorSystemOptions { Logger = log.Logger });
        var actor = system.ActorOf(Props.Create(() => new Silent()), "silent");

        actor.Tell(42);
        actor.Tell("still alive");

        var line = await log.WaitForAsync(Serilog.Events.LogEventLevel.Warning, "/user/silent", "Int32", "dropped");
        Assert.Contains("no handler", line);
    }

    [Fact]
    public async Task Actor_names_are_unique_among_siblings_and_validated()
    {
        await using var system = ActorSystem.Create("names", new ActorSystemOptions { Logger = new LogCapture().Logger });
        system.ActorOf(Props.Create(() => new Silent()), "one");
        var duplicate = Assert.Throws<InvalidOperationException>(() => system.ActorOf(Props.Create(() => new Silent()), "one"));
        Assert.Contains("/user/one", duplicate.Message);
        var bad = Assert.Throws<ArgumentException>(() => system.ActorOf(Props.Create(() => new Silent()), "has/slash"));
        Assert.Contains("has/slash", bad.Message);
    }

    [Fact]
    public void Actors_cannot_be_created_with_new()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new Silent());
        Assert.Contains("Props", e.Message);
    }
}
