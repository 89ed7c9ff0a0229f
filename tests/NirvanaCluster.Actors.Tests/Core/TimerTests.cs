using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;

namespace NirvanaCluster.Actors.Tests.Core;

public class TimerTests
{
    private sealed class Ticker : Actor
    {
        private int _ticks;

        public Ticker(ActorRef report)
        {
            Receive<string>(m =>
            {
                switch (m)
                {
                    case "start":
                        Timers.StartPeriodic("tick", "tick", TimeSpan.FromMilliseconds(5));
                        break;
                    case "tick":
                        report.Tell($"tick {++_ticks} sender {Sender.Path.LocalPath}");
                        if (_ticks == 3)
                        {
                            Timers.Cancel("tick");
                            report.Tell($"cancelled, active={Timers.IsActive("tick")}");
                            Timers.StartSingle("end", "end", TimeSpan.FromMilliseconds(50));
                        }
                        break;
                    case "end":
                        report.Tell($"end, active={Timers.IsActive("end")}");
                        break;
                }
            });
        }
    }

    [Fact]
    public async Task A_periodic_timer_ticks_until_cancelled_and_a_single_timer_fires_once()
    {
        await using var system = ActorSystem.Create("timers", new ActorSystemOptions { Logger = new LogCapture().Logger });
        var probe = new TestProbe(system);
        system.ActorOf(Props.Create(() => new Ticker(probe.Ref))).Tell("start");

        Assert.Equal("tick 1 sender /deadLetters", await probe.NextAsync());
        Assert.Equal("tick 2 sender /deadLetters", await probe.NextAsync());
        Assert.Equal("tick 3 sender /deadLetters", await probe.NextAsync());
        Assert.Equal("cancelled, active=False", await probe.NextAsync());
        // Ticks already queued when the timer was cancelled are dropped, so the single timer's message comes next.
        Assert.Equal("end, active=False", await probe.NextAsync());
    }
}
