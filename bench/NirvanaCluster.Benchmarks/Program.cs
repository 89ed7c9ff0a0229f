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
            Console.WriteLine($"  {name,-10} {summary}");
    }
}
