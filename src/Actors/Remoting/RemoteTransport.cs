using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
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
/// Remote delivery for one actor system: listens (plain sockets or Kestrel), dials (sockets), keeps one association
/// per remote address, turns messages into envelopes and back, runs remote death watch, and reports lost nodes.
/// Split by purpose: this file (lifecycle, sending), .Associations (connections), .Inbound (receiving, death watch).
/// </summary>
internal sealed partial class RemoteTransport : IAsyncDisposable
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
