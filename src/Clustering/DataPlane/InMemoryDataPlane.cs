using System.Collections.Concurrent;
using System.Threading.Channels;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// The data plane of a single process (the in-process placement): links are pairs of channels and tensors pass by
/// reference, so there is no network and no copy; tokens are checked exactly as over TCP.
/// </summary>
public sealed class InMemoryDataPlane : IDataPlane
{
    public const string InProcessEndpoint = "in-process";

    private readonly ConcurrentDictionary<string, TaskCompletionSource<IDataLink>> _expected = new(StringComparer.Ordinal);

    public string Endpoint => InProcessEndpoint;

    public Task<IDataLink> Expect(byte[] token, string purpose, CancellationToken cancellation)
    {
        var key = Convert.ToHexString(token);
        var waiting = new TaskCompletionSource<IDataLink>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_expected.TryAdd(key, waiting)) throw new InvalidOperationException("a data-plane token was armed twice");
        cancellation.Register(() =>
        {
            if (_expected.TryRemove(key, out var w)) w.TrySetCanceled(cancellation);
        });
        return waiting.Task;
    }

    public Task<IDataLink> ConnectAsync(string endpoint, byte[] token, string self, CancellationToken cancellation)
    {
        if (endpoint != InProcessEndpoint) throw new DataPlaneException($"the in-process data plane cannot reach '{endpoint}'");
        if (!_expected.TryRemove(Convert.ToHexString(token), out var waiting))
            throw new DataPlaneException("refused: unknown or already used data-plane token");
        var (a, b) = ChannelLink.Pair(self, "in-process peer");
        waiting.TrySetResult(b);
        return Task.FromResult<IDataLink>(a);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var w in _expected.Values) w.TrySetCanceled();
        _expected.Clear();
        return ValueTask.CompletedTask;
    }

    private sealed class ChannelLink(string peer, Channel<DataPacket> outgoing, Channel<DataPacket> incoming) : IDataLink
    {
        public string Peer { get; } = peer;

        public static (ChannelLink, ChannelLink) Pair(string first, string second)
        {
            var ab = Channel.CreateUnbounded<DataPacket>(new UnboundedChannelOptions { SingleReader = true });
            var ba = Channel.CreateUnbounded<DataPacket>(new UnboundedChannelOptions { SingleReader = true });
            return (new ChannelLink(second, ab, ba), new ChannelLink(first, ba, ab));
        }

        public ValueTask SendAsync(DataPacket packet, CancellationToken cancellation) =>
            outgoing.Writer.TryWrite(packet) ? ValueTask.CompletedTask : throw new DataPlaneException($"link to {Peer} is closed");

        public async ValueTask<DataPacket?> ReceiveAsync(CancellationToken cancellation, TensorPool? pool = null) =>
            await incoming.Reader.WaitToReadAsync(cancellation) && incoming.Reader.TryRead(out var p) ? p : null;

        public ValueTask CloseAsync(CancellationToken cancellation)
        {
            outgoing.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => CloseAsync(default);
    }
}
