using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Pruning.Tests.Support;

/// <summary>Tests that swap the process-wide GEMM backend run alone: no other test may see the swap.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GemmBackendCollection
{
    public const string Name = "gemm-backend";
}

public static class GemmBackends
{
    /// <summary>The backends a result must not depend on: OpenBLAS where it loads, and the managed kernels.</summary>
    public static TheoryData<string> Names()
    {
        var names = new TheoryData<string> { "managed" };
        if (OpenBlasGemm.IsAvailable) names.Add("openblas");
        return names;
    }

    public static async Task<T> With<T>(string backend, Func<Task<T>> work)
    {
        var previous = Gemm.Default;
        Gemm.Default = Gemm.Create(backend);
        try { return await work(); }
        finally { Gemm.Default = previous; }
    }
}
