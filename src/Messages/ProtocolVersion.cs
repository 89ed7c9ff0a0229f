namespace NirvanaCluster.Messages;

/// <summary>The wire protocol version. Peers must agree on it exactly: it is checked in the handshake and again at Join.</summary>
public static class ProtocolVersion
{
    /// <summary>Bump on any incompatible change to the framing, the handshake or a message's meaning.</summary>
    public const uint Current = 2; // 2: masked evaluation (LoadMasks, Forward.variant, OBJECTIVE_KL_TO_DENSE)
}
