using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.DataPlane;

namespace NirvanaCluster.Benchmarks.Transfer;

/// <summary>
/// Data-plane throughput between two processes on loopback, against a bare socket between the same two processes
/// moving the same bytes in the same run (from the same tensor-sized array, in writes of the chunk size, into a
/// tensor-sized buffer: no framing, no checksums). The receiver (this process) listens with the data plane and with a plain
/// socket; the sender (a child process, <c>transfer-peer</c>) streams float32 tensors as packets (CRC-32C-checked
/// chunks), then the same bytes raw, round by round, alternating; each round ends when the receiver acknowledges
/// it. The sender measures and prints; with --json its last line is
/// <c>{"gbps": ..., "bare_socket_gbps": ..., "ratio": ...}</c> (medians).
/// </summary>
public static class TransferBenchmark
{
    private const string EndpointVariable = "NIRVANA_BENCH_DATA_ENDPOINT";
    private const string TokenVariable = "NIRVANA_BENCH_DATA_TOKEN";
    private const string RawPortVariable = "NIRVANA_BENCH_RAW_PORT";

    public static int Run(string[] args)
    {
        if (args is ["-h" or "--help"])
        {
            Console.WriteLine(TransferOptions.Usage);
            return 0;
        }
        try
        {
            return RunReceiverAsync(TransferOptions.Parse(args)).GetAwaiter().GetResult();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"transfer: {e.Message}");
            Console.Error.WriteLine(TransferOptions.Usage);
            return 2;
        }
    }

    public static int RunPeer(string[] args) => RunSenderAsync(TransferOptions.Parse(args)).GetAwaiter().GetResult();

    private static long MessageBytes(TransferOptions o) => (long)o.MessageMib << 20;
    private static int Messages(TransferOptions o) => o.TotalMib / o.MessageMib;

    private static async Task<int> RunReceiverAsync(TransferOptions options)
    {
        await using var plane = TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1", options.ChunkKib << 10);
        var token = RandomNumberGenerator.GetBytes(32);
        var accepted = plane.Expect(token, "benchmark", CancellationToken.None);
        using var raw = new TcpListener(IPAddress.Loopback, 0);
        raw.Start();
        using var child = StartChild(options, plane.Endpoint, token, ((IPEndPoint)raw.LocalEndpoint).Port);
        var receiving = Task.Run(async () =>
        {
            await using var link = await accepted;
            using var socket = await raw.AcceptSocketAsync();
            socket.ReceiveBufferSize = 4 << 20;
            // The bare socket receives into a tensor-sized buffer too, so both sides touch the same amount of memory.
            var buffer = new byte[MessageBytes(options)];
            var pool = new TensorPool(); // received tensors reuse their arrays, as a stage's do
            var perRound = Messages(options) * MessageBytes(options);
            for (var round = 0; round <= options.Rounds; round++) // round 0 warms up
            {
                for (var m = 0; m < Messages(options); m++)
                {
                    var packet = await link.ReceiveAsync(CancellationToken.None, pool) ?? throw new InvalidDataException("the sender closed the link early");
                    pool.Return([.. packet.Tensors]);
                }
                await link.SendAsync(new DataPacket(PacketKind.Weights, round, -1, 0, 0, []), CancellationToken.None);
                for (long got = 0; got < perRound;)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory((int)(got % buffer.Length), (int)Math.Min(options.ChunkKib << 10, buffer.Length - got % buffer.Length)), SocketFlags.None);
                    if (n == 0) throw new InvalidDataException("the sender closed the raw socket early");
                    got += n;
                }
                await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);
            }
            await link.CloseAsync(CancellationToken.None);
        });
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await child.WaitForExitAsync(limit.Token);
            await receiving.WaitAsync(TimeSpan.FromSeconds(30));
            return child.ExitCode;
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            Console.Error.WriteLine("transfer: the sending process did not finish within 10 minutes");
            return 1;
        }
    }

    private static async Task<int> RunSenderAsync(TransferOptions options)
    {
        var endpoint = Environment.GetEnvironmentVariable(EndpointVariable) ?? throw new ArgumentException($"transfer-peer is started by transfer ({EndpointVariable} missing)");
        var token = Convert.FromHexString(Environment.GetEnvironmentVariable(TokenVariable)!);
        var rawPort = int.Parse(Environment.GetEnvironmentVariable(RawPortVariable)!, CultureInfo.InvariantCulture);
        await using var plane = TcpDataPlane.Start("127.0.0.1", 0, "127.0.0.1", options.ChunkKib << 10);
        await using var link = await plane.ConnectAsync(endpoint, token, "transfer-peer", CancellationToken.None);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = 4 << 20 };
        await socket.ConnectAsync(IPAddress.Loopback, rawPort);

        var values = new float[MessageBytes(options) / sizeof(float)];
        var random = new Random(1);
        for (var i = 0; i < values.Length; i++) values[i] = (float)random.NextDouble();
        var packet = new DataPacket(PacketKind.Weights, 0, -1, 0, 0, [DataTensor.Floats("bench.weight", values, values.Length)]);
        var rawBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(); // the same bytes, raw
        var chunk = options.ChunkKib << 10;
        var perRound = Messages(options) * MessageBytes(options);
        var ack = new byte[1];

        Console.WriteLine($"Tensor transfer over loopback between two processes: {Messages(options)} x {options.MessageMib} MiB float32 per round, " +
                          $"{options.ChunkKib} KiB chunks with CRC-32C; the same bytes through a bare socket, alternating, {options.Rounds} rounds after a warm-up");
        var plane_ = new List<double>();
        var bare = new List<double>();
        for (var round = 0; round <= options.Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            for (var m = 0; m < Messages(options); m++) await link.SendAsync(packet, CancellationToken.None);
            _ = await link.ReceiveAsync(CancellationToken.None) ?? throw new InvalidDataException("no acknowledgement from the receiver");
            var planeSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (var m = 0; m < Messages(options); m++)
                for (var offset = 0; offset < rawBytes.Length; offset += chunk)
                    await socket.SendAsync(rawBytes.AsMemory(offset, Math.Min(chunk, rawBytes.Length - offset)), SocketFlags.None);
            await socket.ReceiveAsync(ack, SocketFlags.None);
            var bareSeconds = clock.Elapsed.TotalSeconds;
            if (round == 0) continue;
            plane_.Add(perRound / planeSeconds / 1e9);
            bare.Add(perRound / bareSeconds / 1e9);
            Console.WriteLine($"  round {round}: data plane {plane_[^1]:F2} GB/s, bare socket {bare[^1]:F2} GB/s");
        }
        double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        var (p, b) = (Median(plane_), Median(bare));
        Console.WriteLine($"transfer: data plane median {p:F2} GB/s (best {plane_.Max():F2}); bare socket median {b:F2} GB/s; ratio {p / b:F2}");
        if (options.Json)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"gbps\": {p:F3}, \"bare_socket_gbps\": {b:F3}, \"ratio\": {p / b:F3}}}"));
        return 0;
    }

    private static Process StartChild(TransferOptions options, string endpoint, byte[] token, int rawPort)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the transfer peer");
        var start = new ProcessStartInfo(self) { UseShellExecute = false }; // its output is this process's output
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        start.ArgumentList.Add("transfer-peer");
        foreach (var a in options.ToArgs()) start.ArgumentList.Add(a);
        if (options.Json) start.ArgumentList.Add("--json");
        start.Environment[EndpointVariable] = endpoint;
        start.Environment[TokenVariable] = Convert.ToHexString(token); // never on the command line
        start.Environment[RawPortVariable] = rawPort.ToString(CultureInfo.InvariantCulture);
        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {self} transfer-peer");
    }
}
