using System.Diagnostics;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Benchmarks;

/// <summary>
/// End-to-end GEMM benchmark: for each thread count and shape, GFLOP/s of OpenBLAS and of <see cref="ManagedGemm"/>
/// (median of timed runs after a warm-up; each backend's runs back to back, with a pause after OpenBLAS's because its
/// idle threads spin and would steal cores from whatever runs next), their ratio, and the largest difference between
/// their outputs relative to the output's scale.
/// </summary>
public static class GemmBenchmark
{
    public const string Usage = "Options: --quick (fewer rows and runs), --threads 1,2 (default 1 and all cores), --reps N, --filter TEXT.";

    private sealed record Options(bool Quick, int[] Threads, int Repetitions, string? Filter);

    public static int Run(string[] args)
    {
        Options options;
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var storiesTokens = options.Quick ? 1024 : 32 * 128;
        var llamaTokens = options.Quick ? 128 : 512;
        var shapes = GemmBenchmarkShapes.Stories15M(storiesTokens).Concat(GemmBenchmarkShapes.Llama3Layer(llamaTokens))
            .Where(s => options.Filter is null || $"{s.Model} {s.Label}".Contains(options.Filter, StringComparison.OrdinalIgnoreCase))
            .ToList();

        var openBlas = OpenBlasGemm.IsAvailable ? new OpenBlasGemm() : null;
        Console.WriteLine($"GEMM benchmark: {Environment.ProcessorCount} logical cores, AVX2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}, " +
            $"FMA {System.Runtime.Intrinsics.X86.Fma.IsSupported}, OpenBLAS {(openBlas is null ? "absent: " : "")}{OpenBlasGemm.LibraryDescription}; " +
            $"stories15M rows {storiesTokens}, Llama-3-8B rows {llamaTokens}; median and best of >= {options.Repetitions} runs " +
            $"after 1 warm-up; {Gemm.EnvironmentVariable} would choose '{Gemm.BackendName}'.");

        foreach (var threads in options.Threads)
        {
            if (openBlas is not null) OpenBlasGemm.ThreadCount = threads;
            var managed = new ManagedGemm(threads);
            Console.WriteLine();
            Console.WriteLine($"threads = {threads} (managed kernel {managed.KernelPath}){Measurements.LoadAverage()}");
            Console.WriteLine($"{"",-11} {"",-17} {"",-27} {"",7} {"median GFLOP/s",-26} {"best GFLOP/s",-26}");
            Console.WriteLine($"{"model",-11} {"op",-17} {"product",-27} {"GFLOP",7} {"OpenBLAS",9} {"managed",9} {"ratio",6} " +
                $"{"OpenBLAS",9} {"managed",9} {"ratio",6} {"max rel diff",12}");
            var ratios = new List<double>();
            foreach (var shape in shapes)
            {
                var result = Measure(shape, openBlas, managed, options.Repetitions, options.Quick ? 0.1 : 0.5);
                var ratio = result.ManagedMedian / result.OpenBlasMedian;
                if (!double.IsNaN(ratio)) ratios.Add(ratio);
                Console.WriteLine($"{shape.Model,-11} {shape.Label,-17} {shape.Product,-27} {shape.Flops / 1e9,7:F2} " +
                    $"{Format(result.OpenBlasMedian),9} {result.ManagedMedian,9:F1} {Format(ratio, "F2"),6} " +
                    $"{Format(result.OpenBlasBest),9} {result.ManagedBest,9:F1} {Format(result.ManagedBest / result.OpenBlasBest, "F2"),6} " +
                    $"{Format(result.MaxRelativeDifference, "E1"),12}");
            }
            if (ratios.Count > 0)
                Console.WriteLine($"managed / OpenBLAS (medians): geometric mean {Math.Exp(ratios.Average(Math.Log)):F2}, min {ratios.Min():F2}{Measurements.LoadAverage()}");
        }
        return 0;
    }

    /// <summary>GFLOP/s from the median and from the fastest run; NaN for OpenBLAS when it is absent.</summary>
    private sealed record Measurement(double OpenBlasMedian, double OpenBlasBest, double ManagedMedian, double ManagedBest,
        double MaxRelativeDifference);

    private const int MaxRepetitions = 25;
    private static readonly TimeSpan OpenBlasSettle = TimeSpan.FromMilliseconds(500);

    private static Measurement Measure(GemmShape shape, IGemm? openBlas, IGemm managed, int repetitions, double minimumSeconds)
    {
        var (aRows, aCols) = shape.TransA ? (shape.K, shape.M) : (shape.M, shape.K);
        var (bRows, bCols) = shape.TransB ? (shape.N, shape.K) : (shape.K, shape.N);
        var random = new Random(42);
        var a = RandomMatrix(random, aRows * aCols);
        var b = RandomMatrix(random, bRows * bCols);
        var cManaged = new float[shape.M * shape.N];
        var cOpenBlas = openBlas is null ? null : new float[shape.M * shape.N];

        void RunManaged() => managed.Sgemm(shape.TransA, shape.TransB, shape.M, shape.N, shape.K, 1f, a, aCols, b, bCols, 0f, cManaged, shape.N);
        void RunOpenBlas() => openBlas!.Sgemm(shape.TransA, shape.TransB, shape.M, shape.N, shape.K, 1f, a, aCols, b, bCols, 0f, cOpenBlas, shape.N);

        var managedSeconds = TimeRuns(RunManaged, repetitions, minimumSeconds);
        var openBlasSeconds = openBlas is null ? null : TimeRuns(RunOpenBlas, repetitions, minimumSeconds);
        // OpenBLAS's idle threads spin for a while after a call; let them park before anything else is timed.
        if (openBlas is not null) Thread.Sleep(OpenBlasSettle);

        return new Measurement(
            openBlasSeconds is null ? double.NaN : shape.Flops / Measurements.Median(openBlasSeconds) / 1e9,
            openBlasSeconds is null ? double.NaN : shape.Flops / openBlasSeconds.Min() / 1e9,
            shape.Flops / Measurements.Median(managedSeconds) / 1e9,
            shape.Flops / managedSeconds.Min() / 1e9,
            cOpenBlas is null ? double.NaN : MaxRelativeDifference(cManaged, cOpenBlas));
    }

    /// <summary>One warm-up (JIT, page faults, thread start), then at least <paramref name="repetitions"/> timed runs
    /// and at least <paramref name="minimumSeconds"/> of them in total, so short products get more samples.</summary>
    private static List<double> TimeRuns(Action run, int repetitions, double minimumSeconds)
    {
        run();
        var seconds = new List<double>();
        while (seconds.Count < repetitions || (seconds.Sum() < minimumSeconds && seconds.Count < MaxRepetitions))
        {
            var watch = Stopwatch.StartNew();
            run();
            seconds.Add(watch.Elapsed.TotalSeconds);
        }
        return seconds;
    }

    /// <summary>Largest |x - y| over the largest |y|: both are float results, so ~1e-6 is agreement.</summary>
    private static double MaxRelativeDifference(float[] x, float[] y)
    {
        double maxDiff = 0, scale = 0;
        for (var i = 0; i < x.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(x[i] - y[i]));
            scale = Math.Max(scale, Math.Abs(y[i]));
        }
        return scale == 0 ? maxDiff : maxDiff / scale;
    }

    private static float[] RandomMatrix(Random random, int length)
    {
        var data = GC.AllocateUninitializedArray<float>(length);
        for (var i = 0; i < data.Length; i++) data[i] = random.NextSingle() * 2 - 1;
        return data;
    }

    private static string Format(double value, string format = "F1") => double.IsNaN(value) ? "-" : value.ToString(format);

    private static Options Parse(string[] args)
    {
        var quick = false;
        int[]? threads = null;
        int? repetitions = null;
        string? filter = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--threads":
                    threads = NextValue(args, ref i).Split(',').Select(t => int.TryParse(t, out var v) && v > 0 ? v
                        : throw new ArgumentException($"--threads expects positive integers separated by commas, got '{t}'.")).ToArray();
                    break;
                case "--reps":
                    var text = NextValue(args, ref i);
                    repetitions = int.TryParse(text, out var r) && r > 0 ? r
                        : throw new ArgumentException($"--reps expects a positive integer, got '{text}'.");
                    break;
                case "--filter":
                    filter = NextValue(args, ref i);
                    break;
                default:
                    throw new ArgumentException($"Unknown gemm option '{args[i]}'.");
            }
        }
        threads ??= Environment.ProcessorCount == 1 ? [1] : [1, Environment.ProcessorCount];
        return new Options(quick, threads, repetitions ?? (quick ? 2 : 3), filter);
    }

    private static string NextValue(string[] args, ref int i)
        => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} expects a value.");
}
