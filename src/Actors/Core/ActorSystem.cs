using System.Collections.Concurrent;
using System.Globalization;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Messages.Registry;
using Serilog;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// A named home for actors: creates them, resolves paths to references (local or remote), and shuts them down.
/// <see cref="Create"/> makes a local-only system; <see cref="StartAsync"/> one that also listens for and dials
/// authenticated remote connections and takes part in cluster membership.
/// </summary>
public sealed class ActorSystem : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ActorCell> _cells = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ActorRef> _temps = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _whenTerminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RemoteTransport? _transport;
    private ClusterMembership? _cluster;
    private long _nameCounter;
    private long _tempCounter;
    private int _terminating;

    private ActorSystem(string name, ActorSystemOptions options)
    {
        Options = options;
        Registry = options.Registry ?? ProtocolRegistry.CreateDefault();
        Log = (options.Logger ?? Serilog.Log.Logger).ForContext("ActorSystem", name);
        Address = new Address(name);
        DeadLetters = null!;
        Guardian = null!;
    }

    public string Name => Address.System;

    /// <summary><c>nirvana://name</c> when local-only, <c>nirvana://name@host:port</c> when remoting is on.</summary>
    public Address Address { get; private set; }

    public ActorSystemOptions Options { get; }

    public MessageRegistry Registry { get; }

    public ILogger Log { get; }

    public TimeProvider TimeProvider => Options.TimeProvider;

    /// <summary>Receives (and logs) messages without a live recipient; the sender of messages sent without one.</summary>
    public ActorRef DeadLetters { get; private set; }

    /// <summary>Cluster membership: joining a seed, members, MemberUp / MemberUnreachable events. Needs remoting.</summary>
    public ClusterMembership Cluster => _cluster ?? throw new InvalidOperationException($"actor system {Name} has no remoting; start it with ActorSystem.StartAsync to use the cluster");

    /// <summary>Completes once <see cref="TerminateAsync"/> has finished.</summary>
    public Task WhenTerminatedAsync => _whenTerminated.Task;

    internal ActorRef Guardian { get; private set; }

    internal RemoteTransport? Transport => _transport;

    /// <summary>A local-only actor system.</summary>
    public static ActorSystem Create(string name, ActorSystemOptions? options = null)
    {
        var system = new ActorSystem(name, options ?? new ActorSystemOptions());
        system.SetAddress(system.Address);
        return system;
    }

    /// <summary>An actor system that listens per <paramref name="remoting"/> (port 0 picks a free port; see <see cref="Address"/>).</summary>
    public static async Task<ActorSystem> StartAsync(string name, RemotingOptions remoting, ActorSystemOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(remoting);
        var system = new ActorSystem(name, options ?? new ActorSystemOptions());
        system._transport = await RemoteTransport.StartAsync(system, remoting, system.Registry, cancellation);
        system.SetAddress(system._transport.LocalAddress);
        system._cluster = new ClusterMembership(system, system._transport, remoting);
        return system;
    }

    /// <summary>Creates a top-level actor at /user/<paramref name="name"/> (a generated name when null).</summary>
    public ActorRef ActorOf(Props props, string? name = null) => CreateActor(props, name, null);

    /// <summary>Resolves a full path (<c>nirvana://system@host:port/user/x</c>) to a reference, local or remote.</summary>
    public ActorRef Resolve(string path) => Resolve(ActorPath.Parse(path));

    public ActorRef Resolve(ActorPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Address == Address)
            return ResolveLocal(path.LocalPath);
        if (_transport is null)
            throw new InvalidOperationException($"cannot reach {path} from local-only actor system {Name}; start it with remoting");
        return new RemoteActorRef(_transport, path);
    }

    /// <summary>Stops a local actor after its current message.</summary>
    public void Stop(ActorRef actor)
    {
        if (actor is not LocalActorRef local)
            throw new ArgumentException($"only local actors can be stopped; {actor} is not one", nameof(actor));
        local.Cell.RequestStop("stopped by the actor system");
    }

    /// <summary>Completes with the <see cref="Terminated"/> notice once <paramref name="actor"/> stops or its node is lost.</summary>
    public Task<Terminated> WhenTerminated(ActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        var done = new TaskCompletionSource<Terminated>(TaskCreationOptions.RunContinuationsAsynchronously);
        ActorRef? temp = null;
        temp = CreateTempRef("watch", (_, _) => { }, (a, reason) =>
        {
            if (done.TrySetResult(new Terminated(a, reason)))
                RemoveTempRef(temp!);
        });
        Watch(actor, temp);
        return done.Task;
    }

    /// <summary>Stops every actor (children before parents), then closes remoting. Safe to call more than once.</summary>
    public async Task TerminateAsync()
    {
        if (Interlocked.Exchange(ref _terminating, 1) == 1)
        {
            await _whenTerminated.Task;
            return;
        }
        await StopTopLevelAsync("/user/");
        await StopTopLevelAsync("/system/");
        if (_transport is not null)
            await _transport.DisposeAsync();
        Log.Debug("Actor system {Name} terminated", Name);
        _whenTerminated.TrySetResult();
    }

    public async ValueTask DisposeAsync() => await TerminateAsync();

    public override string ToString() => Address.ToString();

    internal ActorRef CreateActor(Props props, string? name, ActorCell? parent, string root = "/user")
    {
        ArgumentNullException.ThrowIfNull(props);
        if (Volatile.Read(ref _terminating) == 1)
            throw new InvalidOperationException($"actor system {Name} is terminating; no new actors");
        name ??= "$" + Interlocked.Increment(ref _nameCounter).ToString(CultureInfo.InvariantCulture);
        ActorPath.ValidateName(name);
        var path = parent?.Path.Child(name) ?? new ActorPath(Address, $"{root}/{name}");
        var cell = new ActorCell(this, path, props, parent);
        if (!_cells.TryAdd(path.LocalPath, cell))
            throw new InvalidOperationException($"an actor named '{name}' already exists at {path.LocalPath}");
        parent?.TryAddChild(name, cell);
        cell.Start();
        return cell.Self;
    }

    internal ActorRef CreateSystemActor(Props props, string name) => CreateActor(props, name, null, "/system");

    internal void Unregister(ActorCell cell) => _cells.TryRemove(new KeyValuePair<string, ActorCell>(cell.Path.LocalPath, cell));

    /// <summary>The live local actor or temp ref at a local path, or a dead-letter reference carrying that path.</summary>
    internal ActorRef ResolveLocal(string localPath)
    {
        if (_cells.TryGetValue(localPath, out var cell))
            return cell.Self;
        if (_temps.TryGetValue(localPath, out var temp))
            return temp;
        return new DeadLettersRef(this, new ActorPath(Address, localPath));
    }

    internal void Watch(ActorRef watchee, ActorRef watcher)
    {
        switch (watchee)
        {
            case LocalActorRef local:
                if (!local.Cell.TryAddWatcher(watcher, out var reason))
                    watcher.NotifyTerminated(watchee, reason);
                break;
            case RemoteActorRef:
                _transport!.Watch(watchee, watcher);
                break;
            default:
                watcher.NotifyTerminated(watchee, $"no actor at {watchee.Path}");
                break;
        }
    }

    internal void Unwatch(ActorRef watchee, ActorRef watcher)
    {
        switch (watchee)
        {
            case LocalActorRef local:
                local.Cell.RemoveWatcher(watcher);
                break;
            case RemoteActorRef:
                _transport!.Unwatch(watchee, watcher);
                break;
        }
    }

    internal ActorRef CreateTempRef(string prefix, Action<object, ActorRef> onMessage, Action<ActorRef, string> onTerminated)
    {
        var path = new ActorPath(Address, $"/temp/{prefix}-{Interlocked.Increment(ref _tempCounter).ToString(CultureInfo.InvariantCulture)}");
        var temp = new TempActorRef(this, path, onMessage, onTerminated);
        _temps[path.LocalPath] = temp;
        return temp;
    }

    internal void RemoveTempRef(ActorRef temp) => _temps.TryRemove(temp.Path.LocalPath, out _);

    private void SetAddress(Address address)
    {
        Address = address;
        DeadLetters = new DeadLettersRef(this, new ActorPath(address, "/deadLetters"));
        Guardian = new DeadLettersRef(this, new ActorPath(address, "/user"));
    }

    private async Task StopTopLevelAsync(string root)
    {
        var topLevel = _cells.Values.Where(c => c.Path.LocalPath.StartsWith(root, StringComparison.Ordinal) && c.Path.LocalPath.IndexOf('/', root.Length) < 0).ToList();
        foreach (var cell in topLevel)
            cell.RequestStop("actor system terminating");
        await Task.WhenAll(topLevel.Select(c => c.Terminated));
    }
}
