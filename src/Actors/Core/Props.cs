namespace NirvanaCluster.Actors.Core;

/// <summary>How to make (and remake, on restart) an actor, and how to supervise it.</summary>
public sealed record Props
{
    private Props(Func<Actor> factory, SupervisorStrategy? supervisorStrategy)
    {
        Factory = factory;
        SupervisorStrategy = supervisorStrategy;
    }

    /// <summary>Called for the first instance and again for each restart.</summary>
    public Func<Actor> Factory { get; }

    /// <summary>How this actor's failures are handled; null means the system's default.</summary>
    public SupervisorStrategy? SupervisorStrategy { get; init; }

    public static Props Create<TActor>(Func<TActor> factory) where TActor : Actor
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new Props(factory, null);
    }

    public Props WithSupervisorStrategy(SupervisorStrategy strategy)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        return this with { SupervisorStrategy = strategy };
    }
}
