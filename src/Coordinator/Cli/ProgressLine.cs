using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// Progress of long work: an updating line on stderr when it is a terminal, otherwise a structured log line at most
/// every few seconds (and at the end), so CI logs and pipes stay readable.
/// </summary>
public sealed class ProgressLine : IProgress<PassProgress>, IDisposable
{
    private readonly string _label;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly System.Diagnostics.Stopwatch _sinceLog = System.Diagnostics.Stopwatch.StartNew();
    private readonly Lock _gate = new();
    private bool _drawn;

    public ProgressLine(string label) => _label = label;

    public void Report(PassProgress p)
    {
        lock (_gate)
        {
            var eta = p.Remaining is { } r ? $"{r.TotalSeconds:F0}s" : "?";
            if (_interactive)
            {
                var width = 24;
                var filled = p.MicroBatches == 0 ? 0 : width * p.MicroBatchesDone / p.MicroBatches;
                Console.Error.Write($"\r{_label} [{new string('#', filled)}{new string('.', width - filled)}] {p.MicroBatchesDone}/{p.MicroBatches}  {p.TokensPerSecond:N0} tok/s  ETA {eta}   ");
                _drawn = true;
            }
            else if (_sinceLog.Elapsed.TotalSeconds >= 5 || p.MicroBatchesDone == p.MicroBatches)
            {
                Log.Information("{Stage}: {Done}/{Total} micro-batches, {TokensPerSecond:F0} tokens/s, ETA {Eta}",
                    _label, p.MicroBatchesDone, p.MicroBatches, p.TokensPerSecond, eta);
                _sinceLog.Restart();
            }
        }
    }

    /// <summary>An adapter for work measured in items (sequences, questions) rather than micro-batches.</summary>
    public IProgress<int> Items(int total, int tokensPerItem)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return new Progress(done => Report(new PassProgress(done, total, (long)done * tokensPerItem, clock.Elapsed)));
    }

    public void Dispose()
    {
        lock (_gate)
            if (_drawn) Console.Error.WriteLine();
    }

    private sealed class Progress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
