namespace NirvanaCluster.Actors.Core;

internal sealed class LocalActorRef(ActorCell cell) : ActorRef
{
    internal ActorCell Cell { get; } = cell;

    public override ActorPath Path => Cell.Path;

    internal override ActorSystem System => Cell.System;

    public override void Tell(object message, ActorRef? sender = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        Cell.Post(message, sender ?? Cell.System.DeadLetters);
    }

    internal override void NotifyTerminated(ActorRef actor, string reason) =>
        Cell.Post(new Terminated(actor, reason), Cell.System.DeadLetters);
}
