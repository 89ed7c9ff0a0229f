namespace NirvanaCluster.Actors.Core;

/// <summary>What to do with an actor whose handler threw.</summary>
public enum Directive
{
    /// <summary>Replace the instance with a fresh one from its factory; the mailbox and reference stay.</summary>
    Restart,

    /// <summary>Keep the instance and its state; go on with the next message.</summary>
    Resume,

    /// <summary>Stop the actor; watchers get Terminated.</summary>
    Stop,
}

/// <summary>
/// How an actor's failures are handled: restarted (or as <see cref="Decider"/> says) up to
/// <see cref="MaxRestarts"/> times within a sliding <see cref="Window"/>; one more failure within it stops the actor.
/// </summary>
public sealed record SupervisorStrategy
{
    public SupervisorStrategy(int maxRestarts, TimeSpan window, Func<Exception, Directive>? decider = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRestarts);
        if (window <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(window), window, "supervision window must be positive");
        MaxRestarts = maxRestarts;
        Window = window;
        Decider = decider;
    }

    public int MaxRestarts { get; }

    public TimeSpan Window { get; }

    /// <summary>Picks the directive per exception; null means always <see cref="Directive.Restart"/>.</summary>
    public Func<Exception, Directive>? Decider { get; }

    /// <summary>Restart up to 3 times a minute, then stop.</summary>
    public static SupervisorStrategy Default { get; } = new(3, TimeSpan.FromMinutes(1));

    /// <summary>Stop on the first failure (for actors whose state cannot be rebuilt, e.g. a job in progress).</summary>
    public static SupervisorStrategy StopOnFailure { get; } = new(0, TimeSpan.FromSeconds(1), _ => Directive.Stop);

    public Directive Decide(Exception exception) => Decider?.Invoke(exception) ?? Directive.Restart;
}
