using Google.Protobuf;
using NirvanaCluster.Messages.Tensors;

namespace NirvanaCluster.Actors.Core;

/// <summary>Sent to a watcher when an actor it watches stops, fails for good, or its node becomes unreachable.</summary>
public sealed record Terminated(ActorRef Actor, string Reason);

/// <summary>Stops the receiving actor once the messages queued before it are processed.</summary>
public sealed class PoisonPill
{
    public static readonly PoisonPill Instance = new();

    private PoisonPill()
    {
    }
}

/// <summary>
/// A protobuf message with tensors attached. Sent to a remote actor, the tensors travel as checksummed raw chunks
/// after the message; the receiver gets the same shape back once every chunk has verified. Tensor bytes are not
/// copied: do not modify them after sending.
/// </summary>
public sealed record TensorMessage
{
    public TensorMessage(IMessage message, IReadOnlyList<TensorPayload> tensors)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(tensors);
        for (var i = 0; i < tensors.Count; i++)
            if (tensors[i] is null)
                throw new ArgumentException($"tensor {i} attached to {message.Descriptor.FullName} is null", nameof(tensors));
        Message = message;
        Tensors = tensors;
    }

    public IMessage Message { get; }

    public IReadOnlyList<TensorPayload> Tensors { get; }

    /// <summary>The attached tensor with the given name; throws naming the message and the names present when absent.</summary>
    public TensorPayload Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"{Message.Descriptor.FullName} carries no tensor '{name}' (has: {string.Join(", ", Tensors.Select(t => t.Name))})");
}

/// <summary>The reply an Ask got when its target terminated before answering.</summary>
public sealed class ActorTerminatedException(ActorRef actor, string reason)
    : Exception($"actor {actor} terminated before replying: {reason}")
{
    public ActorRef Actor { get; } = actor;

    public string Reason { get; } = reason;
}

// Internal signals that travel through mailboxes but never reach an actor's handlers.
internal sealed record TimerFired(string Key, long Generation, object Message);

/// <summary>Becomes a <see cref="Terminated"/> for the actor only while it still watches <see cref="Actor"/>; a
/// Terminated forwarded as an ordinary message is never mistaken for one.</summary>
internal sealed record DeathNotice(ActorRef Actor, string Reason);

internal sealed class StopSignal
{
    public static readonly StopSignal Instance = new();
}
