using NirvanaCluster.Messages.Registry;
using Serilog;

namespace NirvanaCluster.Actors.Core;

/// <summary>Settings of an actor system that apply with or without remoting.</summary>
public sealed record ActorSystemOptions
{
    /// <summary>Where the system logs; defaults to Serilog's static <see cref="Serilog.Log.Logger"/>.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>How actors whose Props name no strategy are supervised.</summary>
    public SupervisorStrategy DefaultSupervisorStrategy { get; init; } = SupervisorStrategy.Default;

    /// <summary>Clock for timers, asks and failure detection.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Protobuf types allowed over the wire; defaults to <see cref="ProtocolRegistry.CreateDefault"/>.</summary>
    public MessageRegistry? Registry { get; init; }
}
