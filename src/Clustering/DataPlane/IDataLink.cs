namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// A two-way connection between two users of tensors (neighbouring stages, or a stage and the coordinator).
/// Packets arrive in the order they were sent. One sender and one receiver may use a link at the same time.
/// </summary>
public interface IDataLink : IAsyncDisposable
{
    /// <summary>Who is at the other end, for logs and errors.</summary>
    string Peer { get; }

    ValueTask SendAsync(DataPacket packet, CancellationToken cancellation);

    /// <summary>The next packet, or null once the peer closed the link cleanly; its arrays come from <paramref name="pool"/> where the link copies.</summary>
    ValueTask<DataPacket?> ReceiveAsync(CancellationToken cancellation, TensorPool? pool = null);

    /// <summary>Tells the peer nothing more will be sent.</summary>
    ValueTask CloseAsync(CancellationToken cancellation);
}

/// <summary>
/// A process's access to the data plane. The receiving side of a link is armed with a token first
/// (<see cref="Expect"/>); the sending side then connects with the same token. Tokens are single use.
/// </summary>
public interface IDataPlane : IAsyncDisposable
{
    /// <summary>How others reach this process: HOST:PORT of its listener, or <see cref="InMemoryDataPlane.Endpoint"/>.</summary>
    string Endpoint { get; }

    /// <summary>Completes with the link once a peer connects with <paramref name="token"/>; cancel to disarm the token.</summary>
    Task<IDataLink> Expect(byte[] token, string purpose, CancellationToken cancellation);

    Task<IDataLink> ConnectAsync(string endpoint, byte[] token, string self, CancellationToken cancellation);
}

/// <summary>A data-plane failure: a refused token, a broken frame, a lost peer.</summary>
public sealed class DataPlaneException(string message, Exception? inner = null) : IOException(message, inner);
