using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Messages.Cluster;
using NirvanaCluster.Messages.Tensors;
using Serilog;
using Serilog.Events;

namespace NirvanaCluster.Benchmarks.Transfer;

/// <summary>
/// Tensor transfer throughput between two actor systems over loopback TCP, in the direction that matters for a
/// pruning job (nodes streaming weights to the coordinator): the receiver is the seed and listens; the sender (a
/// child process, <c>transfer-peer</c>) joins it and streams float32 tensors as LinkTest messages in CRC-32C-checked
/// chunks to its sink, which acks each message once all of its chunks have verified. The sender measures and prints.
/// <code>
/// transfer [--total-mib 256] [--message-mib 64] [--chunk-kib 1024] [--rounds 5] [--in-process] [--listener sockets|kestrel]
/// transfer-peer --seed nirvana://bench-receiver@127.0.0.1:PORT [same options]   (started by transfer; secret via environment)
/// </code>
/// </summary>
public static class TransferBenchmark
{
    private const string SinkName = "sink";

    public static int Run(string[] args)
    {
        try
        {
            return RunAsync(TransferOptions.Parse(args)).GetAwaiter().GetResult();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"transfer: {e.Message}");
            Console.Error.WriteLine(TransferOptions.Usage);
            return 2;
        }
    }

    /// <summary>The child side: joins the seed given by --seed (its secret from the environment) and measures.</summary>
    public static int RunPeer(string[] args)
    {
        var seedIndex = Array.IndexOf(args, "--seed");
        if (seedIndex < 0 || seedIndex + 1 >= args.Length)
        {
            Console.Error.WriteLine("transfer-peer: --seed nirvana://system@host:port is required");
            return 2;
        }
        var options = TransferOptions.Parse([.. args.Where((_, i) => i != seedIndex && i != seedIndex + 1)]);
        return SendAndMeasureAsync(Address.Parse(args[seedIndex + 1]), ClusterSecret.Load(), options).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(TransferOptions options)
    {
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        await using var receiver = await ActorSystem.StartAsync("bench-receiver", Remoting(ClusterSecret.FromString(secret), options), new ActorSystemOptions { Logger = QuietLogger() });
        receiver.ActorOf(Props.Create(() => new Sink()), SinkName);
        if (options.InProcess)
            return await SendAndMeasureAsync(receiver.Address, ClusterSecret.FromString(secret), options);

        using var child = StartChild(receiver.Address, secret, options);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await child.WaitForExitAsync(limit.Token);
            return child.ExitCode;
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            Console.Error.WriteLine("transfer: the sending process did not finish within 10 minutes");
            return 1;
        }
    }

    private static async Task<int> SendAndMeasureAsync(Address seed, ClusterSecret secret, TransferOptions options)
    {
        await using var sender = await ActorSystem.StartAsync("bench-sender", Remoting(secret, options), new ActorSystemOptions { Logger = QuietLogger() });
        await sender.Cluster.JoinAsync(seed, TimeSpan.FromSeconds(30));
        var sink = sender.Resolve(new ActorPath(seed, "/user/" + SinkName));

        var values = new float[(int)(options.MessageMib * (1L << 20) / sizeof(float))];
        var random = new Random(1);
        for (var i = 0; i < values.Length; i++)
            values[i] = (float)random.NextDouble();
        var tensor = TensorPayload.FromFloats("bench.weight", values);
        var messages = options.TotalMib / options.MessageMib;
        var bytesPerRound = (long)messages * tensor.Data.Length;

        Console.WriteLine($"Tensor transfer over loopback ({(options.InProcess ? "two actor systems in one process" : "two processes")}, " +
            $"receiver listening with {options.Listener}): {messages} x {options.MessageMib} MiB float32 per round, " +
            $"{options.ChunkKib} KiB chunks with CRC-32C, {options.Rounds} rounds after a warm-up");
        await SendRoundAsync(sink, tensor, 1); // warm-up: JIT, connection, buffers
        var rates = new List<double>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            await SendRoundAsync(sink, tensor, messages);
            var seconds = clock.Elapsed.TotalSeconds;
            rates.Add(bytesPerRound / seconds / 1e9);
            Console.WriteLine($"  round {round}: {bytesPerRound >> 20} MiB in {seconds * 1000:F0} ms = {rates[^1]:F2} GB/s");
        }
        rates.Sort();
        var raw = new List<double>();
        for (var round = 0; round < 3; round++)
            raw.Add(await RawTcpBaseline.MeasureGigabytesPerSecondAsync(bytesPerRound));
        raw.Sort();
        Console.WriteLine($"transfer: median {rates[rates.Count / 2]:F2} GB/s, best {rates[^1]:F2} GB/s; " +
            $"bare loopback socket, same bytes, same run: median {raw[1]:F2} GB/s (transfer reaches {rates[rates.Count / 2] / raw[1]:P0} of it)");
        return 0;
    }

    /// <summary>Sends <paramref name="count"/> LinkTest messages and waits for every ack (the sink checks each one's bytes).</summary>
    private static async Task SendRoundAsync(ActorRef sink, TensorPayload tensor, int count)
    {
        var acks = Enumerable.Range(0, count)
            .Select(i => sink.Ask<LinkTestAck>(new TensorMessage(new LinkTest { Seq = i }, [tensor]), TimeSpan.FromMinutes(2)))
            .ToList();
        foreach (var ack in await Task.WhenAll(acks))
            if (ack.Bytes != tensor.Data.Length)
                throw new InvalidOperationException($"sink acked LinkTest {ack.Seq} with {ack.Bytes} bytes, expected {tensor.Data.Length}");
    }

    private static Process StartChild(Address seed, string secret, TransferOptions options)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable to start the transfer peer");
        var start = new ProcessStartInfo(self) { UseShellExecute = false }; // its output is this process's output
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        foreach (var arg in new[] { "transfer-peer", "--seed", seed.ToString(), "--chunk-kib", options.ChunkKib.ToString(CultureInfo.InvariantCulture), "--listener", options.Listener.ToString() })
            start.ArgumentList.Add(arg);
        start.Environment[ClusterSecret.EnvironmentVariable] = secret; // never on the command line
        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {self} transfer-peer");
    }

    private static RemotingOptions Remoting(ClusterSecret secret, TransferOptions options) => new(secret)
    {
        Listener = options.Listener,
        TensorChunkBytes = options.ChunkKib << 10,
        MaxFrameBytes = Math.Max(RemotingOptions.DefaultMaxFrameBytes, (options.ChunkKib << 10) + (1 << 16)),
    };

    private static ILogger QuietLogger() =>
        new LoggerConfiguration().MinimumLevel.Is(LogEventLevel.Error).WriteTo.Sink(new StandardErrorSink()).CreateLogger();

    /// <summary>Acks each LinkTest with the number of tensor bytes that arrived (verified chunk by chunk on the way).</summary>
    private sealed class Sink : Actor
    {
        public Sink()
        {
            ReceiveWithTensors<LinkTest>((test, tensors) => Sender.Tell(new LinkTestAck { Seq = test.Seq, Bytes = tensors.Sum(t => (long)t.Data.Length) }));
        }
    }

    /// <summary>Errors to stderr, so a failing peer says why (a peer leaving at the end is only a warning).</summary>
    private sealed class StandardErrorSink : Serilog.Core.ILogEventSink
    {
        public void Emit(LogEvent logEvent) =>
            Console.Error.WriteLine($"[{logEvent.Level}] {logEvent.RenderMessage(CultureInfo.InvariantCulture)}{(logEvent.Exception is null ? "" : " | " + logEvent.Exception.Message)}");
    }
}
