using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace NirvanaCluster.Benchmarks.Transfer;

/// <summary>
/// The ceiling to compare against: the same bytes through a bare loopback socket pair (1 MiB writes and reads, no
/// framing, no checksums, no copies beyond the kernel's), measured in the same run on the same machine.
/// </summary>
internal static class RawTcpBaseline
{
    public static async Task<double> MeasureGigabytesPerSecondAsync(long totalBytes)
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accepting = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await accepting;

        var block = new byte[1 << 20];
        new Random(2).NextBytes(block);
        var clock = Stopwatch.StartNew();
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[1 << 20];
            long received = 0;
            while (received < totalBytes)
            {
                var n = await server.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                    break;
                received += n;
            }
            return received;
        });
        for (long sent = 0; sent < totalBytes; sent += block.Length)
            await client.SendAsync(block, SocketFlags.None);
        var total = await receiving;
        return total / clock.Elapsed.TotalSeconds / 1e9;
    }
}
