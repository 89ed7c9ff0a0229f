using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;
using Envelope = NirvanaCluster.Messages.Wire.Envelope;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>Inbound half: turning envelopes back into messages and running remote death watch.</summary>
internal sealed partial class RemoteTransport
{
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
}
