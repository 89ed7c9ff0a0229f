namespace NirvanaCluster.Actors.Core;

/// <summary>
/// A handle to an actor that may live in this process or in another: <see cref="Tell"/> looks the same either way.
/// Two references are equal when their full paths are.
/// </summary>
public abstract class ActorRef : IEquatable<ActorRef>
{
    public abstract ActorPath Path { get; }

    internal abstract ActorSystem System { get; }

    /// <summary>
    /// Sends a message without waiting. Remote targets accept only protobuf messages registered in the system's
    /// MessageRegistry (or a <see cref="TensorMessage"/> around one); anything else throws here, at the sender.
    /// Without <paramref name="sender"/>, the actor whose handler is running is the sender (dead letters outside one).
    /// </summary>
    public abstract void Tell(object message, ActorRef? sender = null);

    /// <summary>Tells this watcher that <paramref name="actor"/> has terminated.</summary>
    internal abstract void NotifyTerminated(ActorRef actor, string reason);

    public bool Equals(ActorRef? other) => other is not null && Path.Equals(other.Path);

    public override bool Equals(object? obj) => obj is ActorRef other && Equals(other);

    public override int GetHashCode() => Path.GetHashCode();

    public override string ToString() => Path.ToString();

    public static bool operator ==(ActorRef? left, ActorRef? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(ActorRef? left, ActorRef? right) => !(left == right);
}
