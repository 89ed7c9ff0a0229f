namespace NirvanaCluster.Actors.Core;

/// <summary>
/// An actor's timers, by name. A timer delivers its message to the actor like any other message; starting a timer
/// under a key in use replaces it, and once cancelled or replaced, a timer's already-queued messages are dropped.
/// Only the owning actor may use it (from its handlers and hooks). Timers end when the actor stops or restarts.
/// </summary>
public sealed class TimerScheduler
{
    private readonly ActorCell _cell;
    private readonly Dictionary<string, Entry> _timers = new(StringComparer.Ordinal);
    private long _generation;

    internal TimerScheduler(ActorCell cell) => _cell = cell;

    public void StartPeriodic(string key, object message, TimeSpan interval) => StartPeriodic(key, message, interval, interval);

    public void StartPeriodic(string key, object message, TimeSpan initialDelay, TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(interval), interval, $"timer '{key}': interval must be positive");
        Start(key, message, initialDelay, interval);
    }

    public void StartSingle(string key, object message, TimeSpan delay) => Start(key, message, delay, Timeout.InfiniteTimeSpan);

    public bool IsActive(string key) => _timers.ContainsKey(key);

    public void Cancel(string key)
    {
        if (_timers.Remove(key, out var entry))
            entry.Timer.Dispose();
    }

    internal void CancelAll()
    {
        foreach (var entry in _timers.Values)
            entry.Timer.Dispose();
        _timers.Clear();
    }

    /// <summary>True when a fired message belongs to a timer still active; single-shot timers end here.</summary>
    internal bool Accept(TimerFired fired)
    {
        if (!_timers.TryGetValue(fired.Key, out var entry) || entry.Generation != fired.Generation)
            return false;
        if (!entry.Periodic)
            _timers.Remove(fired.Key);
        return true;
    }

    private void Start(string key, object message, TimeSpan delay, TimeSpan period)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(message);
        if (delay < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(delay), delay, $"timer '{key}': delay must not be negative");
        Cancel(key);
        var fired = new TimerFired(key, ++_generation, message);
        var self = _cell.Self;
        var noSender = _cell.System.DeadLetters;
        var timer = _cell.System.TimeProvider.CreateTimer(_ => self.Tell(fired, noSender), null, delay, period);
        _timers[key] = new Entry(timer, fired.Generation, period != Timeout.InfiniteTimeSpan);
    }

    private sealed record Entry(ITimer Timer, long Generation, bool Periodic);
}
