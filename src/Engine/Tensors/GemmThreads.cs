namespace NirvanaCluster.Engine.Tensors;

/// <summary>Caps the compute threads of the GEMM backend in use (a node's --threads).</summary>
public static class GemmThreads
{
    public static void Set(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"--threads must be at least 1 (got {threads})");
        switch (Gemm.Default)
        {
            case OpenBlasGemm:
                OpenBlasGemm.ThreadCount = threads;
                break;
            case ManagedGemm:
                Gemm.Default = new ManagedGemm(threads);
                break;
        }
    }
}
