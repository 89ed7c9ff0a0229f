using NirvanaCluster.Actors.Core;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>A reference to an actor in another actor system; messages go through the transport's association.</summary>
internal sealed class RemoteActorRef(RemoteTransport transport, ActorPath path) : ActorRef
{
    public override ActorPath Path { get; } = path;

    internal override ActorSystem System => transport.System;

    public override void Tell(object message, ActorRef? sender = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        transport.Send(Path, message, ActorCell.ImplicitSender(sender, transport.System));
    }

    internal override void NotifyTerminated(ActorRef actor, string reason) => transport.SendTerminatedNotice(Path, actor, reason);
}
