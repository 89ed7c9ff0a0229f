namespace NirvanaCluster.Actors.Remoting;

/// <summary>A handshake that ended in refusal: wrong protocol version, failed authentication, bad address.</summary>
public sealed class HandshakeRefusedException(string reason) : Exception(reason);
