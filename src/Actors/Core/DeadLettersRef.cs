using Serilog;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// Where messages go that have no live recipient (and the sender of messages that have none): logged, then dropped.
/// </summary>
internal sealed class DeadLettersRef(ActorSystem system, ActorPath path) : ActorRef
{
    private readonly ILogger _log = system.Log.ForContext<DeadLettersRef>();

    public override ActorPath Path { get; } = path;

    internal override ActorSystem System => system;

    public override void Tell(object message, ActorRef? sender = null) =>
        _log.Debug("Dead letter {MessageType} from {Sender} to {Path}", message.GetType().Name, sender, Path);

    internal override void NotifyTerminated(ActorRef actor, string reason)
    {
    }
}
