using System.Collections.Concurrent;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace NirvanaCluster.Actors.Tests.Support;

/// <summary>A Serilog sink that keeps rendered events so tests can wait for a logged reason.</summary>
public sealed class LogCapture : ILogEventSink
{
    private readonly ConcurrentQueue<(LogEventLevel Level, string Text)> _events = new();

    public LogCapture()
    {
        Logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(this).CreateLogger();
    }

    public ILogger Logger { get; }

    public IEnumerable<string> Lines => _events.Select(e => $"{e.Level}: {e.Text}");

    public void Emit(LogEvent logEvent) =>
        _events.Enqueue((logEvent.Level, logEvent.RenderMessage() + (logEvent.Exception is null ? "" : " | " + logEvent.Exception.Message)));

    /// <summary>Waits until an event at <paramref name="minimum"/> or above contains every fragment; returns its text.</summary>
    public async Task<string> WaitForAsync(LogEventLevel minimum, params string[] fragments)
    {
        string? found = null;
        await Eventually.TrueAsync(() =>
        {
            found = _events.Where(e => e.Level >= minimum)
                .Select(e => e.Text)
                .FirstOrDefault(t => fragments.All(f => t.Contains(f, StringComparison.Ordinal)));
            return found is not null;
        }, $"a {minimum}+ log line containing [{string.Join("], [", fragments)}]; got:\n{string.Join("\n", Lines.TakeLast(30))}");
        return found!;
    }
}
