using System.Collections.Concurrent;
using System.Threading.Channels;
using Serilog;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// The runtime side of one actor: its mailbox and the loop that drains it one message at a time, its children,
/// watchers, timers, and supervision (restart or stop on failure). The actor instance changes on restart; the cell,
/// its path and its reference do not.
/// </summary>
internal sealed partial class ActorCell : IActorContext
{
    private readonly Channel<Delivery> _mailbox = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, ActorCell> _children = new(StringComparer.Ordinal);
    private readonly HashSet<ActorRef> _watchers = [];
    private readonly HashSet<ActorRef> _watching = [];
    private readonly Queue<DateTimeOffset> _recentFailures = new();
    private readonly TaskCompletionSource _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly AsyncLocal<ActorCell?> s_current = new();
    private readonly ActorCell? _parent;
    private Actor? _actor;
    private string? _stopReason;
    private string? _terminationReason;

    public ActorCell(ActorSystem system, ActorPath path, Props props, ActorCell? parent)
    {
        System = system;
        Path = path;
        Props = props;
        _parent = parent;
        Self = new LocalActorRef(this);
        Timers = new TimerScheduler(this);
        Log = system.Log.ForContext("ActorPath", path.LocalPath);
        CurrentSender = system.DeadLetters;
    }

    public ActorSystem System { get; }

    public ActorPath Path { get; }

    public Props Props { get; }

    public LocalActorRef Self { get; }

    ActorRef IActorContext.Self => Self;

    public ActorRef Parent => _parent?.Self ?? System.Guardian;

    public TimerScheduler Timers { get; }

    public ILogger Log { get; }

    public ActorRef CurrentSender { get; private set; }

    public IReadOnlyCollection<ActorRef> Children => _children.Values.Select(c => (ActorRef)c.Self).ToList();

    /// <summary>Completes once the actor has stopped and its watchers have been told.</summary>
    public Task Terminated => _terminated.Task;

    public bool IsTerminated => Volatile.Read(ref _terminationReason) is not null;

    /// <summary>
    /// The sender to use when a Tell names none: the actor whose handler is running (flowing across its awaits),
    /// else dead letters. Lets handlers write <c>Sender.Tell(reply)</c> and still be answerable.
    /// </summary>
    public static ActorRef ImplicitSender(ActorRef? sender, ActorSystem system) => sender ?? s_current.Value?.Self ?? system.DeadLetters;

    public void Start()
    {
        // The loop must not inherit its creator's context (a parent's implicit sender would leak into the child).
        using (ExecutionContext.SuppressFlow())
            _ = Task.Run(RunAsync);
    }

    public void Post(object message, ActorRef sender)
    {
        if (!_mailbox.Writer.TryWrite(new Delivery(message, sender)))
            System.DeadLetters.Tell(message, sender);
    }

    /// <summary>Asks the actor to stop after its current message; the first reason given wins.</summary>
    public void RequestStop(string reason)
    {
        Interlocked.CompareExchange(ref _stopReason, reason, null);
        _mailbox.Writer.TryWrite(new Delivery(StopSignal.Instance, System.DeadLetters));
    }

    /// <summary>Registers a watcher; false when the actor has already terminated (the caller then notifies at once).</summary>
    public bool TryAddWatcher(ActorRef watcher, out string terminationReason)
    {
        lock (_watchers)
        {
            terminationReason = _terminationReason ?? "";
            if (_terminationReason is not null)
                return false;
            _watchers.Add(watcher);
            return true;
        }
    }

    public void RemoveWatcher(ActorRef watcher)
    {
        lock (_watchers)
            _watchers.Remove(watcher);
    }

    public ActorRef ActorOf(Props props, string? name = null) => System.CreateActor(props, name, this);

    internal bool TryAddChild(string name, ActorCell child) => _children.TryAdd(name, child);

    public void Stop(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor is not LocalActorRef local)
            throw new ArgumentException($"only local actors can be stopped; {actor} is remote", nameof(actor));
        local.Cell.RequestStop(ReferenceEquals(local.Cell, this) ? "stopped itself" : $"stopped by {Path.LocalPath}");
    }

    public void Watch(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor.Equals(Self) || !_watching.Add(actor))
            return;
        System.Watch(actor, Self);
    }

    public void Unwatch(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (_watching.Remove(actor))
            System.Unwatch(actor, Self);
    }

    private async Task RunAsync()
    {
        s_current.Value = this; // flows through this loop's awaits: hooks and handlers tell with this actor as sender
        try
        {
            if (await CreateInstanceAsync())
                await ProcessMailboxAsync();
            await TerminateAsync(_stopReason ?? "stopped");
        }
        catch (Exception e)
        {
            // Only a bug in the runtime itself lands here; the actor is lost but the process keeps going.
            Log.Fatal(e, "Actor runtime failed for {Path}", Path);
            await TerminateAsync($"actor runtime failed: {e.Message}");
        }
    }

    private async Task ProcessMailboxAsync()
    {
        var reader = _mailbox.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var delivery))
            {
                if (Volatile.Read(ref _stopReason) is not null)
                    return;
                await InvokeAsync(delivery);
            }
            if (Volatile.Read(ref _stopReason) is not null)
                return;
        }
    }

    private async Task InvokeAsync(Delivery delivery)
    {
        var message = delivery.Message;
        switch (message)
        {
            case StopSignal:
                return;
            case PoisonPill:
                RequestStop("stopped by PoisonPill");
                return;
            case TimerFired fired:
                if (!Timers.Accept(fired))
                    return;
                message = fired.Message;
                break;
            case DeathNotice notice:
                if (!_watching.Remove(notice.Actor))
                    return; // unwatched meanwhile
                message = new Terminated(notice.Actor, notice.Reason);
                break;
        }

        CurrentSender = delivery.Sender;
        try
        {
            var pending = _actor!.Invoke(message);
            if (pending is not null)
                await pending;
        }
        catch (Exception e)
        {
            await HandleFailureAsync(e, message);
        }
        finally
        {
            CurrentSender = System.DeadLetters;
        }
    }

    private async Task<bool> CreateInstanceAsync()
    {
        try
        {
            _actor = Actor.Create(this, Props.Factory);
            _actor.InvokePreStart();
            return true;
        }
        catch (Exception e)
        {
            return await HandleFailureAsync(e, null);
        }
    }

    private async Task StopChildrenAsync(string reason)
    {
        var children = _children.Values.ToList();
        foreach (var child in children)
            child.RequestStop(reason);
        await Task.WhenAll(children.Select(c => c.Terminated));
    }

    private async Task TerminateAsync(string reason)
    {
        Timers.CancelAll();
        await StopChildrenAsync("parent stopping");
        if (_actor is not null)
        {
            try
            {
                _actor.InvokePostStop();
            }
            catch (Exception e)
            {
                Log.Error(e, "PostStop of {Path} threw", Path);
            }
        }

        _mailbox.Writer.TryComplete();
        var dropped = 0;
        while (_mailbox.Reader.TryRead(out var leftover))
            if (leftover.Message is not StopSignal)
                dropped++;
        if (dropped > 0)
            Log.Debug("Actor {Path} stopped with {Count} messages unprocessed", Path, dropped);

        System.Unregister(this);
        _parent?._children.TryRemove(new KeyValuePair<string, ActorCell>(Path.Name, this));
        foreach (var watched in _watching)
            System.Unwatch(watched, Self);
        _watching.Clear();

        List<ActorRef> watchers;
        lock (_watchers)
        {
            _terminationReason = reason;
            watchers = [.. _watchers];
            _watchers.Clear();
        }
        Log.Debug("Actor {Path} terminated: {Reason}", Path, reason);
        foreach (var watcher in watchers)
            watcher.NotifyTerminated(Self, reason);
        _terminated.TrySetResult();
    }

    private readonly record struct Delivery(object Message, ActorRef Sender);
}
