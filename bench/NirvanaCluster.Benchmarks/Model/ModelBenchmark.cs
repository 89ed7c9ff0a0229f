using System.Diagnostics;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Benchmarks.Model;

/// <summary>
/// Whole-model throughput on a random model shaped like stories15M, per GEMM backend: tokens/s of an inference
/// forward (embedding, layers, final norm, logits) and of one calibration step (forward with tapes, NIRVANA's
/// max-logit objective, the full backward accumulating weight gradients: <see cref="ShardWorker.Forward"/> with
/// <see cref="ObjectiveKind.MaxLogit"/>, what calibration does per micro-batch), and the fraction of wall time spent
/// outside GEMM (measured by wrapping the backend in <see cref="TimingGemm"/>): the share that faster matrix
/// products cannot remove. Medians of timed runs after warm-ups.
/// </summary>
public static class ModelBenchmark
{
    public const string Usage = ModelBenchmarkOptions.Usage;

    /// <summary>stories15M (llama2.c): D 288, 6 layers, 6 heads (Dh 48), no GQA, F 768, V 32000, tied embeddings.</summary>
    public static LlamaConfig Stories15M { get; } = new LlamaConfig
    {
        HiddenSize = 288,
        NumHiddenLayers = 6,
        NumAttentionHeads = 6,
        NumKeyValueHeads = 6,
        IntermediateSize = 768,
        VocabSize = 32000,
        TieWordEmbeddings = true,
        MaxPositionEmbeddings = 256,
    }.Validated("stories15M shape");

    private const int WarmUps = 2;
    private static readonly TimeSpan OpenBlasSettle = TimeSpan.FromMilliseconds(500);

    /// <summary>One pass's figures: seconds per step (median, best), share of wall time outside GEMM, GEMM GFLOP/s.</summary>
    private sealed record PassFigures(string Backend, string Pass, double MedianSeconds, double BestSeconds,
        double OutsideGemm, double GemmGflops, long GemmCallsPerStep);

    public static int Run(string[] args)
    {
        ModelBenchmarkOptions options;
        try
        {
            options = ModelBenchmarkOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var config = options.Positions > Stories15M.MaxPositionEmbeddings
            ? Stories15M with { MaxPositionEmbeddings = options.Positions } : Stories15M;
        var shard = RandomWeights.Create(config, seed: 1, std: 0.02f);
        var random = new Random(2);
        var tokens = Enumerable.Range(0, options.Batch * options.Positions).Select(_ => random.Next(config.VocabSize)).ToArray();
        var tokensPerStep = tokens.Length;
        Console.WriteLine($"Model benchmark: random stories15M-shaped model ({shard.ParameterCount / 1e6:F1} M parameters, " +
            $"D {config.HiddenSize}, L {config.NumHiddenLayers}, H {config.NumAttentionHeads}, Hkv {config.NumKeyValueHeads}, " +
            $"F {config.IntermediateSize}, V {config.VocabSize}, tied), B {options.Batch} x T {options.Positions} = {tokensPerStep} tokens per step; " +
            $"{Environment.ProcessorCount} logical cores; median of {options.Repetitions} runs after {WarmUps} warm-ups{Measurements.LoadAverage()}.");

        var original = Gemm.Default;
        var figures = new List<PassFigures>();
        foreach (var name in options.Backends)
        {
            IGemm backend;
            try
            {
                backend = Gemm.Create(name);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
                Console.WriteLine($"skipped backend '{name}': {e.Message}");
                continue;
            }
            var timing = new TimingGemm(backend);
            Gemm.Default = timing;
            try
            {
                var forward = new InferenceForward(shard, tokens, options.Batch, options.Positions);
                figures.Add(Measure(name, "forward", forward.Run, timing, options.Repetitions));
                var worker = new ShardWorker(shard);
                figures.Add(Measure(name, "forward+backward", () =>
                {
                    worker.BeginPass();
                    worker.Forward(0, tokens, null, options.Batch, options.Positions, ObjectiveKind.MaxLogit, options.Batch);
                }, timing, options.Repetitions));
            }
            finally
            {
                Gemm.Default = original;
            }
            // OpenBLAS's idle threads spin for a while after a call; let them park before the next backend is timed.
            if (backend is OpenBlasGemm) Thread.Sleep(OpenBlasSettle);
        }

        Console.WriteLine();
        Console.WriteLine($"| {"GEMM backend",-12} | {"pass",-16} | {"tokens/s (median)",17} | {"ms/step (median)",16} | {"tokens/s (best)",15} | {"time outside GEMM",17} | {"GEMM GFLOP/s",12} | {"GEMM calls/step",15} |");
        Console.WriteLine($"|{new string('-', 14)}|{new string('-', 18)}|{new string('-', 18)}:|{new string('-', 17)}:|{new string('-', 16)}:|{new string('-', 18)}:|{new string('-', 13)}:|{new string('-', 16)}:|");
        foreach (var f in figures)
            Console.WriteLine($"| {f.Backend,-12} | {f.Pass,-16} | {tokensPerStep / f.MedianSeconds,17:F0} | {f.MedianSeconds * 1e3,16:F1} | " +
                $"{tokensPerStep / f.BestSeconds,15:F0} | {f.OutsideGemm,17:P1} | {f.GemmGflops,12:F1} | {f.GemmCallsPerStep,15} |");
        Console.WriteLine($"(after the runs{Measurements.LoadAverage()})");
        return 0;
    }

    /// <summary>Warm-ups (JIT, first allocations of tapes and gradients, thread start), then timed runs.</summary>
    private static PassFigures Measure(string backend, string pass, Action step, TimingGemm timing, int repetitions)
    {
        for (var i = 0; i < WarmUps; i++) step();
        var seconds = new List<double>();
        double wallTotal = 0, gemmTotal = 0, flopsTotal = 0;
        long calls = 0;
        for (var i = 0; i < repetitions; i++)
        {
            timing.Reset();
            var watch = Stopwatch.StartNew();
            step();
            var wall = watch.Elapsed.TotalSeconds;
            seconds.Add(wall);
            wallTotal += wall;
            gemmTotal += timing.Elapsed.TotalSeconds;
            flopsTotal += timing.Flops;
            calls = timing.Calls;
        }
        var best = seconds.Min();
        return new PassFigures(backend, pass, Measurements.Median(seconds), best,
            1 - gemmTotal / wallTotal, flopsTotal / gemmTotal / 1e9, calls);
    }
}
