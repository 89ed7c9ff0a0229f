namespace NirvanaCluster.Actors.Core;

public static class AskExtensions
{
    /// <summary>
    /// Sends <paramref name="message"/> with a temporary reply address and awaits the first reply. Throws
    /// <see cref="TimeoutException"/> when none comes in time, <see cref="ActorTerminatedException"/> when the target
    /// stops or its node is lost first, and <see cref="InvalidOperationException"/> for a reply of another type.
    /// </summary>
    public static async Task<TResponse> Ask<TResponse>(this ActorRef target, object message, TimeSpan timeout, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(message);
        var system = target.System;
        var reply = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        var temp = system.CreateTempRef(
            "ask",
            (m, _) => reply.TrySetResult(m),
            (actor, reason) => reply.TrySetException(new ActorTerminatedException(actor, reason)));
        try
        {
            system.Watch(target, temp);
            target.Tell(message, temp);
            var answer = await reply.Task.WaitAsync(timeout, system.TimeProvider, cancellation);
            return answer is TResponse typed
                ? typed
                : throw new InvalidOperationException($"Ask of {message.GetType().Name} to {target} expected a {typeof(TResponse).Name} reply but got {answer.GetType().Name}");
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Ask of {message.GetType().Name} to {target} got no reply within {timeout.TotalSeconds:F1} s");
        }
        finally
        {
            system.Unwatch(target, temp);
            system.RemoveTempRef(temp);
        }
    }
}
