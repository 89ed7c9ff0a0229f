namespace NirvanaCluster.Actors.Core;

/// <summary>
/// A short-lived reference with no mailbox (an Ask's reply address, a task waiting for termination): what it is told
/// goes to a callback. Registered under /temp so remote replies find it.
/// </summary>
internal sealed class TempActorRef(ActorSystem system, ActorPath path, Action<object, ActorRef> onMessage, Action<ActorRef, string> onTerminated) : ActorRef
{
    public override ActorPath Path { get; } = path;

    internal override ActorSystem System => system;

    public override void Tell(object message, ActorRef? sender = null) => onMessage(message, sender ?? system.DeadLetters);

    internal override void NotifyTerminated(ActorRef actor, string reason) => onTerminated(actor, reason);
}
