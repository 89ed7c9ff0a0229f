using NirvanaCluster.Clustering.Logging;
using Serilog.Events;
using Serilog.Parsing;

namespace NirvanaCluster.Cluster.Tests.Logging;

public sealed class RepeatedWarningFilterTests
{
    private static LogEvent Event(LogEventLevel level, string text) =>
        new(DateTimeOffset.UtcNow, level, null, new MessageTemplateParser().Parse(text.Replace("{", "{{").Replace("}", "}}")), []);

    private static string Gated(string address, string reason) =>
        $"Tried to associate with unreachable remote address [{address}]. Address is now gated for 1000 ms, all messages to this address will be delivered to dead letters. Reason: [{reason}]";

    [Fact]
    public void Akka_s_gating_warning_passes_once_per_address_per_window_and_everything_else_passes()
    {
        var now = DateTimeOffset.UnixEpoch;
        var filter = new RepeatedWarningFilter(TimeSpan.FromSeconds(30), () => now);
        var a = "akka.ssl.tcp://nirvana@127.0.0.1:34057";
        var b = "akka.ssl.tcp://nirvana@127.0.0.1:40325";

        Assert.True(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(a, "Connection refused"))));
        now += TimeSpan.FromSeconds(1);
        Assert.False(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(a, "Connection refused")))); // the repeat, a second later
        Assert.False(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(a, "No route to host"))));   // another reason, same address
        Assert.True(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(b, "Connection refused"))));  // another address
        Assert.True(filter.IsEnabled(Event(LogEventLevel.Warning, "Node local-node-1 was lost: unreachable"))); // what recovery says
        Assert.True(filter.IsEnabled(Event(LogEventLevel.Error, Gated(a, "Connection refused"))));    // only warnings are thinned
        now += TimeSpan.FromSeconds(29);
        Assert.True(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(a, "Connection refused"))));  // a window later: once more
        now += TimeSpan.FromSeconds(1);
        Assert.False(filter.IsEnabled(Event(LogEventLevel.Warning, Gated(a, "Connection refused"))));
    }
}
