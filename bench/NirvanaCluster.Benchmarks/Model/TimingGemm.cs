using System.Diagnostics;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Benchmarks.Model;

/// <summary>
/// A GEMM decorator that forwards every call to <paramref name="inner"/> and adds up the time spent in it and the
/// floating-point operations done, so a model benchmark can say how much of its time is not matrix products.
/// Safe to call from several threads (the sums are interlocked), though the model calls GEMM from one at a time.
/// </summary>
public sealed class TimingGemm(IGemm inner) : IGemm
{
    private long _ticks;
    private long _calls;
    private double _flops;
    private readonly Lock _flopsLock = new();

    public string Name => inner.Name;

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));
    public long Calls => Interlocked.Read(ref _calls);
    public double Flops
    {
        get { lock (_flopsLock) return _flops; }
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _ticks, 0);
        Interlocked.Exchange(ref _calls, 0);
        lock (_flopsLock) _flops = 0;
    }

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        var start = Stopwatch.GetTimestamp();
        inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref _calls);
        lock (_flopsLock) _flops += 2.0 * m * n * k;
    }

    /// <summary>Forwards to the inner backend's own weight path (the managed one widens while packing), timed as one call.</summary>
    public void SgemmWeight(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix b, float beta, Span<float> c, int ldc)
    {
        var start = Stopwatch.GetTimestamp();
        inner.SgemmWeight(transA, transB, m, n, k, alpha, a, lda, b, beta, c, ldc);
        Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref _calls);
        lock (_flopsLock) _flops += 2.0 * m * n * k;
    }
}
