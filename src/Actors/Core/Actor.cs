using Google.Protobuf;
using NirvanaCluster.Messages.Tensors;
using Serilog;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// Base class of every actor. Register one handler per message type in the constructor (or in a state method
/// passed to <see cref="Become"/>); the first registered handler whose type matches gets the message. Messages
/// arrive one at a time: an async handler finishes before the next message starts. Messages nobody handles go to
/// <see cref="Unhandled"/>, which logs and drops them.
/// </summary>
public abstract class Actor
{
    [ThreadStatic]
    private static ActorCell? s_constructing;

    private readonly ActorCell _cell;
    private readonly List<Handler> _handlers = [];

    protected Actor()
    {
        _cell = s_constructing
            ?? throw new InvalidOperationException($"{GetType().Name} must be created through Props by ActorSystem.ActorOf or Context.ActorOf, not with new");
    }

    protected ActorRef Self => _cell.Self;

    /// <summary>The sender of the message being handled; dead letters when it had none.</summary>
    protected ActorRef Sender => _cell.CurrentSender;

    protected IActorContext Context => _cell;

    protected TimerScheduler Timers => _cell.Timers;

    /// <summary>A logger tagged with this actor's path.</summary>
    protected ILogger Log => _cell.Log;

    protected void Receive<T>(Action<T> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(new Handler(typeof(T), false, (m, _) => { handler((T)m); return null; }));
    }

    protected void ReceiveAsync<T>(Func<T, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(new Handler(typeof(T), false, (m, _) => handler((T)m)));
    }

    /// <summary>Handles a <typeparamref name="T"/> that arrived with tensors attached (a <see cref="TensorMessage"/>).</summary>
    protected void ReceiveWithTensors<T>(Action<T, IReadOnlyList<TensorPayload>> handler) where T : IMessage
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(new Handler(typeof(T), true, (m, t) => { handler((T)m, t!); return null; }));
    }

    protected void ReceiveWithTensorsAsync<T>(Func<T, IReadOnlyList<TensorPayload>, Task> handler) where T : IMessage
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.Add(new Handler(typeof(T), true, (m, t) => handler((T)m, t!)));
    }

    /// <summary>Handles whatever no earlier handler took.</summary>
    protected void ReceiveAny(Action<object> handler) => Receive(handler);

    /// <summary>Switches state: forgets all handlers and lets <paramref name="state"/> register the new ones.</summary>
    protected void Become(Action state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _handlers.Clear();
        state();
    }

    /// <summary>Called for messages no handler matched; logs a warning and drops the message.</summary>
    protected virtual void Unhandled(object message) =>
        Log.Warning("Actor {Path} has no handler for {MessageType} from {Sender}; dropped", Self.Path, Describe(message), Sender);

    /// <summary>Runs once before the first message (and, through <see cref="PostRestart"/>, after each restart).</summary>
    protected virtual void PreStart()
    {
    }

    /// <summary>Runs once after the last message, when the actor stops (and, through <see cref="PreRestart"/>, before a restart).</summary>
    protected virtual void PostStop()
    {
    }

    /// <summary>Runs on the failed instance before it is replaced. Children are stopped after it returns.</summary>
    protected virtual void PreRestart(Exception cause, object? message) => PostStop();

    /// <summary>Runs on the fresh instance after a restart.</summary>
    protected virtual void PostRestart(Exception cause) => PreStart();

    internal static Actor Create(ActorCell cell, Func<Actor> factory)
    {
        var previous = s_constructing;
        s_constructing = cell;
        try
        {
            var actor = factory();
            if (!ReferenceEquals(actor._cell, cell))
                throw new InvalidOperationException($"the factory for {cell.Path} returned an actor created elsewhere; Props factories must create a new instance");
            return actor;
        }
        finally
        {
            s_constructing = previous;
        }
    }

    internal void InvokePreStart() => PreStart();

    internal void InvokePostStop() => PostStop();

    internal void InvokePreRestart(Exception cause, object? message) => PreRestart(cause, message);

    internal void InvokePostRestart(Exception cause) => PostRestart(cause);

    /// <summary>Runs the matching handler; null when it completed synchronously.</summary>
    internal Task? Invoke(object message)
    {
        if (message is TensorMessage tensorMessage)
        {
            foreach (var handler in _handlers)
                if (handler.WithTensors && handler.MessageType.IsInstanceOfType(tensorMessage.Message))
                    return handler.Invoke(tensorMessage.Message, tensorMessage.Tensors);
        }
        foreach (var handler in _handlers)
            if (!handler.WithTensors && handler.MessageType.IsInstanceOfType(message))
                return handler.Invoke(message, null);
        Unhandled(message);
        return null;
    }

    private static string Describe(object message) =>
        message is TensorMessage t ? $"{t.Message.GetType().Name} with {t.Tensors.Count} tensors" : message.GetType().Name;

    private sealed record Handler(Type MessageType, bool WithTensors, Func<object, IReadOnlyList<TensorPayload>?, Task?> Invoke);
}
