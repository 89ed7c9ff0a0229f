using NirvanaCluster.Benchmarks.Checkpoints;
using NirvanaCluster.Benchmarks.Model;
using NirvanaCluster.Benchmarks.Transfer;

namespace NirvanaCluster.Benchmarks;

/// <summary>
/// Benchmark dispatcher: <c>dotnet run -c Release --project bench/NirvanaCluster.Benchmarks -- COMMAND [options]</c>.
/// Add a benchmark by adding one entry to <see cref="Commands"/>.
/// </summary>
public static class Program
{
    private static readonly Dictionary<string, (string Summary, Func<string[], int> Run)> Commands = new(StringComparer.OrdinalIgnoreCase)
    {
        ["gemm"] = ("GFLOP/s of OpenBLAS vs the managed GEMM at stories15M and Llama-3-8B shapes. " + GemmBenchmark.Usage, GemmBenchmark.Run),
        ["model"] = ("Tokens/s of forward and forward+backward (NIRVANA objective) on a stories15M-shaped model, and time outside GEMM, per backend. "
            + ModelBenchmark.Usage, ModelBenchmark.Run),
        ["make-checkpoint"] = ("Writes a random Llama checkpoint folder (input of bench/scripts/cluster-prune.sh). " + MakeCheckpointCommand.Usage,
            MakeCheckpointCommand.Run),
        ["transfer"] = ("Data-plane throughput between two processes over loopback vs a bare socket. " + TransferOptions.Usage, TransferBenchmark.Run),
        ["transfer-peer"] = ("The sending side of transfer, started by it as a child process.", TransferBenchmark.RunPeer),
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage();
            return args.Length == 0 ? 2 : 0;
        }
        if (!Commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"Unknown benchmark '{args[0]}'.");
            PrintUsage();
            return 2;
        }
        return command.Run(args[1..]);
    }

    private static void PrintUsage()
    {
        Console.WriteLine("usage: NirvanaCluster.Benchmarks COMMAND [options]");
        foreach (var (name, (summary, _)) in Commands.OrderBy(c => c.Key))
            Console.WriteLine($"  {name,-16} {summary}");
    }
}
