namespace NirvanaCluster.Actors.Core;

/// <summary>What an actor may do besides handling messages: create children, stop actors, watch them.</summary>
public interface IActorContext
{
    ActorSystem System { get; }

    ActorRef Self { get; }

    /// <summary>The parent; top-level actors have the /user guardian, which drops what it is told.</summary>
    ActorRef Parent { get; }

    IReadOnlyCollection<ActorRef> Children { get; }

    /// <summary>Creates a child under this actor's path; the name must be unique among its siblings.</summary>
    ActorRef ActorOf(Props props, string? name = null);

    /// <summary>Stops a local actor after its current message; its queued messages are dropped.</summary>
    void Stop(ActorRef actor);

    /// <summary>Delivers <see cref="Terminated"/> to this actor when <paramref name="actor"/> stops or its node is lost.</summary>
    void Watch(ActorRef actor);

    void Unwatch(ActorRef actor);
}
