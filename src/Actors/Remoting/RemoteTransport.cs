using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting.Transports;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Registry;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;
using Serilog;
using Envelope = NirvanaCluster.Messages.Wire.Envelope;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// Remote delivery for one actor system: listens (Kestrel), dials (sockets), keeps one association per remote
/// address, turns messages into envelopes and back, runs remote death watch, and reports lost nodes.
/// </summary>
internal sealed class RemoteTransport : IAsyncDisposable
{
    private readonly ConcurrentDictionary<Address, Association> _associations = new();
    private readonly RemoteWatchTable _watches = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<Task, byte> _connectionTasks = new();
    private IRemotingListener? _listener;
    private long _nextTransferId;

    private RemoteTransport(ActorSystem system, RemotingOptions options, MessageRegistry registry)
    {
        System = system;
        Options = options;
        Registry = registry;
        Log = system.Log.ForContext<RemoteTransport>();
    }

    public ActorSystem System { get; }

    public RemotingOptions Options { get; }

    public MessageRegistry Registry { get; }

    public ILogger Log { get; }

    /// <summary>This system's canonical address, known once listening.</summary>
    public Address LocalAddress { get; private set; } = null!;

    /// <summary>Raised (on a transport thread) when a remote node is declared unreachable, with the reason.</summary>
    public event Action<Address, string>? AssociationLost;

    /// <summary>Test hook: stop sending heartbeats, as a hung peer would.</summary>
    internal volatile bool HeartbeatsSuspended;

    public static async Task<RemoteTransport> StartAsync(ActorSystem system, RemotingOptions options, MessageRegistry registry, CancellationToken cancellation)
    {
        options.Validate();
        var transport = new RemoteTransport(system, options, registry);
        var endpoint = new IPEndPoint(await ResolveAsync(options.BindHost, cancellation), options.Port);
        transport._listener = options.Listener switch
        {
            RemotingListener.Kestrel => await KestrelListener.StartAsync(endpoint, ReadBufferBytes(options), transport.AcceptAsync, options.Tls, transport.Log, cancellation),
            _ => SocketListener.Start(endpoint, transport.AcceptAsync, options.Tls, options.HandshakeTimeout, transport.Log),
        };
        transport.LocalAddress = new Address(system.Name, options.PublicHost ?? options.BindHost, transport._listener.Port);
        transport.Log.Information("Actor system {System} listening at {Address} ({Mode:l})", system.Name, transport.LocalAddress, options.Tls is null ? $"{options.Listener}" : $"{options.Listener}, TLS");
        return transport;
    }

    /// <summary>Serializes and queues a message for a remote actor; throws here for messages that cannot go remote.</summary>
    public void Send(ActorPath target, object message, ActorRef? sender)
    {
        var (payload, tensors) = message switch
        {
            TensorMessage t => (t.Message, t.Tensors),
            IMessage m => (m, (IReadOnlyList<TensorPayload>)[]),
            _ => throw new ArgumentException(
                $"cannot send {message.GetType().FullName} to remote actor {target}: remote messages must be protobuf messages registered in the MessageRegistry", nameof(message)),
        };
        var envelope = new Envelope
        {
            Target = target.ToString(),
            Sender = SenderPath(sender),
            TypeName = Registry.TypeNameOf(payload),
            Payload = payload.ToByteString(),
        };
        if (tensors.Count > Options.MaxTensorsPerMessage)
            throw new ArgumentException($"{envelope.TypeName} to {target} carries {tensors.Count} tensors; at most {Options.MaxTensorsPerMessage} are allowed", nameof(message));
        foreach (var tensor in tensors)
        {
            if (tensor.Data.Length > Options.MaxTensorBytes)
                throw new ArgumentException($"tensor '{tensor.Name}' of {envelope.TypeName} has {tensor.Data.Length} bytes; at most {Options.MaxTensorBytes} are allowed", nameof(message));
            envelope.Tensors.Add(TensorFrames.Describe(tensor, (ulong)Interlocked.Increment(ref _nextTransferId), Options.TensorChunkBytes));
        }
        Enqueue(target.Address, new OutboundEnvelope(envelope, tensors));
    }

    public void Watch(ActorRef remoteWatchee, ActorRef localWatcher)
    {
        if (_watches.AddOutbound(remoteWatchee, localWatcher))
            SendSystemMessage(remoteWatchee.Path, new RemoteWatch { Watchee = remoteWatchee.Path.ToString(), Watcher = localWatcher.Path.ToString() });
    }

    public void Unwatch(ActorRef remoteWatchee, ActorRef localWatcher)
    {
        if (_watches.RemoveOutbound(remoteWatchee, localWatcher))
            SendSystemMessage(remoteWatchee.Path, new RemoteUnwatch { Watchee = remoteWatchee.Path.ToString(), Watcher = localWatcher.Path.ToString() });
    }

    /// <summary>Tells a remote watcher that a local actor it watched has terminated.</summary>
    public void SendTerminatedNotice(ActorPath remoteWatcher, ActorRef actor, string reason) =>
        SendSystemMessage(remoteWatcher, new RemoteTerminated { Actor = actor.Path.ToString(), Reason = reason });

    /// <summary>Called by a connection's reader for each complete message; refuses bad ones with a logged reason.</summary>
    internal void DeliverInbound(Connection from, Envelope envelope, IReadOnlyList<TensorPayload> tensors)
    {
        try
        {
            if (!ActorPath.TryParse(envelope.Target, out var target))
                throw new WireProtocolException($"envelope target '{envelope.Target}' is not an actor path");
            if (target.Address.System != LocalAddress.System || target.Address.Port != LocalAddress.Port)
                throw new WireProtocolException($"envelope for {envelope.Target} arrived at {LocalAddress}");
            ActorRef sender = System.DeadLetters;
            if (envelope.Sender.Length > 0)
                sender = ActorPath.TryParse(envelope.Sender, out var senderPath)
                    ? System.Resolve(senderPath)
                    : throw new WireProtocolException($"envelope sender '{envelope.Sender}' is not an actor path");

            switch (envelope.TypeName)
            {
                case var name when name == RemoteWatch.Descriptor.FullName:
                    OnRemoteWatch(ParseSystem(RemoteWatch.Parser, envelope));
                    return;
                case var name when name == RemoteUnwatch.Descriptor.FullName:
                    OnRemoteUnwatch(ParseSystem(RemoteUnwatch.Parser, envelope));
                    return;
                case var name when name == RemoteTerminated.Descriptor.FullName:
                    OnRemoteTerminated(ParseSystem(RemoteTerminated.Parser, envelope), target);
                    return;
            }

            var message = Registry.Parse(envelope.TypeName, envelope.Payload);
            object delivered = tensors.Count > 0 ? new TensorMessage(message, tensors) : message;
            System.ResolveLocal(target.LocalPath).Tell(delivered, sender);
        }
        catch (WireProtocolException e)
        {
            Log.Warning("Refused a message from {Peer}: {Reason}", from.Peer, e.Message);
        }
    }

    private void OnRemoteWatch(RemoteWatch watch)
    {
        var watcher = ParsePath(watch.Watcher, "RemoteWatch.watcher");
        var watcheePath = ParsePath(watch.Watchee, "RemoteWatch.watchee");
        var watcherRef = new RemoteActorRef(this, watcher);
        if (System.ResolveLocal(watcheePath.LocalPath) is LocalActorRef local)
        {
            if (local.Cell.TryAddWatcher(watcherRef, out var reason))
                _watches.AddInbound(local.Cell, watcherRef);
            else
                watcherRef.NotifyTerminated(local, reason);
        }
        else
        {
            watcherRef.NotifyTerminated(System.Resolve(watcheePath), $"no actor at {watcheePath}");
        }
    }

    private void OnRemoteUnwatch(RemoteUnwatch unwatch)
    {
        var watcherRef = new RemoteActorRef(this, ParsePath(unwatch.Watcher, "RemoteUnwatch.watcher"));
        if (System.ResolveLocal(ParsePath(unwatch.Watchee, "RemoteUnwatch.watchee").LocalPath) is LocalActorRef local)
        {
            local.Cell.RemoveWatcher(watcherRef);
            _watches.RemoveInbound(local.Cell, watcherRef);
        }
    }

    private void OnRemoteTerminated(RemoteTerminated terminated, ActorPath watcherPath)
    {
        var actor = System.Resolve(ParsePath(terminated.Actor, "RemoteTerminated.actor"));
        var watcher = System.ResolveLocal(watcherPath.LocalPath);
        if (_watches.RemoveOutbound(actor, watcher))
            watcher.NotifyTerminated(actor, terminated.Reason);
    }

    private void SendSystemMessage(ActorPath target, IMessage message)
    {
        var envelope = new Envelope { Target = target.ToString(), TypeName = message.Descriptor.FullName, Payload = message.ToByteString() };
        Enqueue(target.Address, new OutboundEnvelope(envelope, []));
    }

    private void Enqueue(Address address, Outbound item)
    {
        if (_shutdown.IsCancellationRequested)
        {
            Log.Debug("Dropping a message to {Address}: the transport is shut down", address);
            return;
        }
        if (!address.IsRemotable)
            throw new ArgumentException($"address {address} has no host and port to send to", nameof(address));
        var association = GetOrDial(address);
        if (!association.Outbox.Writer.TryWrite(item))
            Log.Debug("Dropping a message to {Address}: its association was just lost", address);
    }

    private Association GetOrDial(Address address)
    {
        while (true)
        {
            if (_associations.TryGetValue(address, out var existing))
                return existing;
            var created = new Association(address);
            if (_associations.TryAdd(address, created))
            {
                Run(() => DialAsync(created));
                return created;
            }
        }
    }

    private async Task DialAsync(Association association)
    {
        var target = association.Remote;
        StreamConnection? link = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(Options.ConnectTimeout + Options.HandshakeTimeout);
            link = await StreamConnection.ConnectAsync(target.Host!, target.Port!.Value, Options.Tls, timeout.Token);
            var server = await HandshakeProtocol.ConnectAsync(link.Pipe, LocalAddress, target, Options.Secret, timeout.Token);
            if (server != target)
                Log.Warning("Dialed {Target} but it calls itself {Canonical}; use the address it reports to avoid a second connection", target, server);
            var connection = new Connection(this, target, link, association.Outbox.Reader, association.Outbox.Writer);
            if (!association.TryAttach(connection))
                return;
            Log.Information("Connected to {Peer}", target);
            var reason = await connection.RunAsync();
            Lose(association, reason);
            await connection.CloseAsync(reason);
        }
        catch (Exception e)
        {
            var reason = e switch
            {
                OperationCanceledException when _shutdown.IsCancellationRequested => "local actor system shutting down",
                OperationCanceledException => $"could not connect to {target} within {(Options.ConnectTimeout + Options.HandshakeTimeout).TotalSeconds:F1} s",
                HandshakeRefusedException => e.Message,
                _ => $"could not connect to {target}: {e.Message}",
            };
            Log.Warning("Connection to {Peer} failed: {Reason}", target, reason);
            Lose(association, reason);
        }
        finally
        {
            if (link is not null)
                await link.DisposeAsync();
        }
    }

    private async Task AcceptAsync(ITransportConnection link)
    {
        var remote = link.RemoteEndPoint;
        Address peer;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(Options.HandshakeTimeout);
            peer = await HandshakeProtocol.AcceptAsync(link.Pipe, LocalAddress, Options.Secret, timeout.Token);
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException ? $"no complete handshake within {Options.HandshakeTimeout.TotalSeconds:F1} s" : e.Message;
            Log.Warning("Refused connection from {Remote}: {Reason}", remote, reason);
            await CompleteQuietlyAsync(link); // then FIN, so the peer can read the refusal
            return;
        }

        var association = new Association(peer);
        Connection connection;
        while (true)
        {
            if (_associations.TryAdd(peer, association))
            {
                connection = new Connection(this, peer, link, association.Outbox.Reader, association.Outbox.Writer);
                break;
            }
            if (_associations.TryGetValue(peer, out var existing))
            {
                // We dialed them while they dialed us: our dialed connection carries our messages, this one theirs.
                association = existing;
                var heartbeats = Channel.CreateUnbounded<Outbound>();
                connection = new Connection(this, peer, link, heartbeats.Reader, heartbeats.Writer);
                break;
            }
        }
        if (!association.TryAttach(connection))
        {
            await CompleteQuietlyAsync(link);
            return;
        }
        Log.Information("Accepted connection from {Peer} ({Remote})", peer, remote);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Track(done.Task);
        try
        {
            var reason = await connection.RunAsync();
            Lose(association, reason);
            await connection.CloseAsync(reason);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private static async Task CompleteQuietlyAsync(ITransportConnection link)
    {
        try
        {
            await link.Pipe.Output.CompleteAsync();
            await link.ShutdownSendAsync();
            await link.Pipe.Input.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or SocketException)
        {
            // Already broken: nothing left to complete.
        }
    }

    private void Lose(Association association, string reason)
    {
        if (!association.TryMarkLost(reason, out var dropped))
            return;
        _associations.TryRemove(new KeyValuePair<Address, Association>(association.Remote, association));
        if (_shutdown.IsCancellationRequested)
            return;
        Log.Warning("Node {Peer} is unreachable: {Reason}", association.Remote, reason);
        if (dropped > 0)
            Log.Warning("Dropped {Count} queued messages to {Peer}", dropped, association.Remote);
        _watches.OnAddressLost(association.Remote, $"node {association.Remote} is unreachable: {reason}");
        try
        {
            AssociationLost?.Invoke(association.Remote, reason);
        }
        catch (Exception e)
        {
            Log.Error(e, "An AssociationLost handler failed for {Peer}", association.Remote);
        }
    }

    /// <summary>Starts transport work detached from the caller's context (it may be an actor's handler).</summary>
    private void Run(Func<Task> work)
    {
        using (ExecutionContext.SuppressFlow())
            Track(Task.Run(work));
    }

    private void Track(Task task)
    {
        _connectionTasks.TryAdd(task, 0);
        task.ContinueWith(t => _connectionTasks.TryRemove(t, out _), TaskScheduler.Default);
    }

    private string SenderPath(ActorRef? sender) =>
        sender is null || sender is DeadLettersRef ? "" : sender.Path.ToString();

    private static ActorPath ParsePath(string text, string field) =>
        ActorPath.TryParse(text, out var path) ? path : throw new WireProtocolException($"{field} '{text}' is not an actor path");

    private static T ParseSystem<T>(MessageParser<T> parser, Envelope envelope) where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(envelope.Payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireProtocolException($"malformed {envelope.TypeName}: {e.Message}", e);
        }
    }

    private static long ReadBufferBytes(RemotingOptions options) => options.MaxFrameBytes + (1L << 20);

    private static async Task<IPAddress> ResolveAsync(string host, CancellationToken cancellation)
    {
        if (IPAddress.TryParse(host, out var address))
            return address;
        var addresses = await Dns.GetHostAddressesAsync(host, cancellation);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new ArgumentException($"bind host '{host}' resolves to no address", nameof(host));
    }

    public async ValueTask DisposeAsync()
    {
        if (_shutdown.IsCancellationRequested)
            return;
        _shutdown.Cancel();
        foreach (var association in _associations.Values)
            association.TryMarkLost($"actor system {LocalAddress} is shutting down", out _);
        _associations.Clear();
        try
        {
            await Task.WhenAll(_connectionTasks.Keys).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            Log.Warning("Some remoting connections did not close within 5 s of shutdown");
        }
        if (_listener is not null)
            await _listener.DisposeAsync();
        Log.Information("Remoting stopped at {Address}", LocalAddress);
    }
}
