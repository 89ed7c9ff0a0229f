using System.IO.Pipelines;

namespace NirvanaCluster.Actors.Remoting.Transports;

/// <summary>One accepted or dialed byte stream, whichever listener or socket it came from.</summary>
internal interface ITransportConnection : IAsyncDisposable
{
    IDuplexPipe Pipe { get; }

    /// <summary>The peer's IP endpoint, for logs before the handshake names it.</summary>
    string RemoteEndPoint { get; }

    /// <summary>
    /// Whether the reader may wait for a whole frame at once (ReadAtLeastAsync). Stream pipes support it; on
    /// Kestrel's socket pipes such a wait was seen to stall, so those are read packet by packet.
    /// </summary>
    bool WaitsForWholeFrames { get; }

    /// <summary>Sends FIN once the output pipe is complete, so the peer reads everything and then the end.</summary>
    ValueTask ShutdownSendAsync();
}

/// <summary>Where accepted connections go; the connection lives until the returned task completes.</summary>
internal delegate Task AcceptHandler(ITransportConnection connection);

internal interface IRemotingListener : IAsyncDisposable
{
    /// <summary>The port actually bound (the chosen one when 0 was asked for).</summary>
    int Port { get; }
}
