namespace NirvanaCluster.Messages;

/// <summary>
/// The protocol version of the control messages and the data-plane frames. Peers must agree on it exactly: a node
/// states it in RegisterNode and in every data-plane Hello, and another version is refused naming both.
/// </summary>
public static class ProtocolVersion
{
    /// <summary>Bump on any incompatible change to a message, a frame or their meaning. 2: the Akka.NET cluster.</summary>
    public const uint Current = 2;
}
