using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Cluster.Tests.DataPlane;

/// <summary>The in-process data plane keeps the TCP one's rules: armed tokens only, each once; packets by reference, in order.</summary>
public class InMemoryDataPlaneTests
{
    [Fact]
    public async Task Tokens_are_single_use_and_packets_pass_in_order_without_copies()
    {
        await using var plane = new InMemoryDataPlane();
        var token = new byte[] { 1, 2, 3 };
        var accepted = plane.Expect(token, "test", CancellationToken.None);
        await Assert.ThrowsAsync<DataPlaneException>(() => plane.ConnectAsync(InMemoryDataPlane.InProcessEndpoint, [9, 9], "x", CancellationToken.None));
        var a = await plane.ConnectAsync(InMemoryDataPlane.InProcessEndpoint, token, "a", CancellationToken.None);
        var b = await accepted;
        await Assert.ThrowsAsync<DataPlaneException>(() => plane.ConnectAsync(InMemoryDataPlane.InProcessEndpoint, token, "again", CancellationToken.None));
        var data = new float[] { 1, 2, 3 };
        for (var i = 0; i < 3; i++)
            await a.SendAsync(new DataPacket(PacketKind.Activations, 1, i, 1, 3, [DataTensor.Floats("hidden", data, 3)]), CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            var p = await b.ReceiveAsync(CancellationToken.None);
            Assert.Equal(i, p!.MicroBatch);
            Assert.Same(data, p.Tensor("hidden").Data);
        }
        await a.CloseAsync(CancellationToken.None);
        Assert.Null(await b.ReceiveAsync(CancellationToken.None));
    }
}
