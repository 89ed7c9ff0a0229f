namespace NirvanaCluster.Messages.Framing;

/// <summary>The peer broke the wire protocol (bad frame, bad handshake, bad tensor); the connection must close.</summary>
public sealed class WireProtocolException(string message, Exception? inner = null) : Exception(message, inner);
