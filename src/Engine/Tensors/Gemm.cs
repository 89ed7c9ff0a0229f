using Serilog;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// The process-wide GEMM backend. Chosen on first use from <c>NIRVANA_GEMM</c>: <c>auto</c> (default: OpenBLAS when
/// <c>libopenblas.so.0</c> loads, else the managed kernels), <c>openblas</c> (an error when missing), <c>managed</c>
/// or <c>naive</c>. Tests may replace it through <see cref="Default"/>.
/// </summary>
public static class Gemm
{
    public const string EnvironmentVariable = "NIRVANA_GEMM";

    private static readonly Lock s_selectionLock = new();
    private static IGemm? s_default;

    public static IGemm Default
    {
        get => Volatile.Read(ref s_default) ?? SelectFromEnvironment();
        set => Volatile.Write(ref s_default, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>Name of the backend in use (<see cref="IGemm.Name"/> of <see cref="Default"/>).</summary>
    public static string BackendName => Default.Name;

    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
        => Default.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>C = alpha op(A) op(W) + beta C with W held at checkpoint precision (<see cref="IGemm.SgemmWeight"/>).</summary>
    public static void SgemmWeight(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix b, float beta, Span<float> c, int ldc)
        => Default.SgemmWeight(transA, transB, m, n, k, alpha, a, lda, b, beta, c, ldc);

    /// <summary>A new backend by name: <c>auto</c>, <c>openblas</c>, <c>managed</c> or <c>naive</c> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    /// <exception cref="InvalidOperationException"><c>openblas</c> asked for but the library does not load.</exception>
    public static IGemm Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Choose(name, OpenBlasGemm.IsAvailable, "Gemm.Create").Backend;
    }

    /// <summary>The selection rule, with OpenBLAS's presence as a parameter so its absence can be tested anywhere.</summary>
    internal static GemmChoice Choose(string? requested, bool openBlasAvailable, string source)
    {
        var name = string.IsNullOrWhiteSpace(requested) ? "auto" : requested.Trim().ToLowerInvariant();
        return name switch
        {
            "auto" when openBlasAvailable =>
                new(new OpenBlasGemm(), $"auto: OpenBLAS loaded from {OpenBlasGemm.LibraryDescription}"),
            "auto" => new(new ManagedGemm(),
                $"auto: OpenBLAS unavailable ({OpenBlasGemm.LibraryDescription}), using the managed kernels"),
            "openblas" when openBlasAvailable => new(new OpenBlasGemm(), $"requested by {source}"),
            "openblas" => throw new InvalidOperationException(
                $"GEMM backend 'openblas' was requested by {source} but OpenBLAS is not available " +
                $"({OpenBlasGemm.LibraryDescription}). Install libopenblas0-pthread or set {EnvironmentVariable} " +
                "to auto, managed or naive."),
            "managed" => new(new ManagedGemm(), $"requested by {source}"),
            "naive" => new(new NaiveGemm(), $"requested by {source}"),
            _ => throw new ArgumentException(
                $"Unknown GEMM backend '{requested}' (from {source}); expected auto, openblas, managed or naive.",
                nameof(requested)),
        };
    }

    private static IGemm SelectFromEnvironment()
    {
        lock (s_selectionLock)
        {
            if (s_default is { } chosen) return chosen;
            var choice = Choose(Environment.GetEnvironmentVariable(EnvironmentVariable), OpenBlasGemm.IsAvailable,
                $"environment variable {EnvironmentVariable}");
            Log.ForContext(typeof(Gemm)).Information("GEMM backend: {Backend} ({Reason})", choice.Backend.Name, choice.Reason);
            Volatile.Write(ref s_default, choice.Backend);
            return choice.Backend;
        }
    }
}

/// <summary>A chosen backend and the reason, for the log line.</summary>
internal sealed record GemmChoice(IGemm Backend, string Reason);
