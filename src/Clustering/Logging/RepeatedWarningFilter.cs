using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace NirvanaCluster.Clustering.Logging;

/// <summary>
/// Akka.Remote retries a lost member's address every second while it is gated and logs a warning each time ("Tried to
/// associate with unreachable remote address [...]"), until the member is removed: during a recovery that is a screen
/// of identical lines hiding the ones that say what happened. This filter lets one such line per address through per
/// <see cref="Window"/> and drops the repeats; every other event passes untouched.
/// </summary>
public sealed class RepeatedWarningFilter(TimeSpan window, Func<DateTimeOffset>? clock = null) : ILogEventFilter
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(30);

    /// <summary>Akka.Remote's repeated line, up to its address (the reason after it varies).</summary>
    private const string Gated = "Tried to associate with unreachable remote address";

    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastPassed = new(StringComparer.Ordinal);
    private readonly Func<DateTimeOffset> _now = clock ?? (() => DateTimeOffset.UtcNow);

    public TimeSpan Window { get; } = window;

    public RepeatedWarningFilter() : this(DefaultWindow) { }

    public bool IsEnabled(LogEvent logEvent)
    {
        if (logEvent.Level != LogEventLevel.Warning) return true;
        var text = logEvent.RenderMessage();
        if (!text.StartsWith(Gated, StringComparison.Ordinal)) return true;
        var end = text.IndexOf(']', Gated.Length);
        var key = end < 0 ? text : text[..(end + 1)];
        var now = _now();
        var passes = true;
        _lastPassed.AddOrUpdate(key, now, (_, last) =>
        {
            passes = now - last >= Window;
            return passes ? now : last;
        });
        return passes;
    }
}
