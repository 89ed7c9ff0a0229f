namespace NirvanaCluster.Actors.Core;

internal sealed class LocalActorRef(ActorCell cell) : ActorRef
{
    internal ActorCell Cell { get; } = cell;

    public override ActorPath Path => Cell.Path;

    internal override ActorSystem System => Cell.System;

    public override void Tell(object message, ActorRef? sender = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        Cell.Post(message, ActorCell.ImplicitSender(sender, Cell.System));
    }

    internal override void NotifyTerminated(ActorRef actor, string reason) =>
        Cell.Post(new DeathNotice(actor, reason), Cell.System.DeadLetters);
}
