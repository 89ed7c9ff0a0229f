namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// Portable GEMM in C#: cache-blocked (packed panels of A and B sized for L2 and L1), register-blocked 6x16
/// micro-kernel (AVX with FMA, 128-bit and scalar fallbacks), multi-threaded over blocks of C; products with only
/// one or two rows (decoding) skip packing (<see cref="GemmSkinny"/>).
/// The fallback when OpenBLAS is absent; <see cref="NaiveGemm"/> is its oracle.
/// </summary>
public sealed unsafe class ManagedGemm : IGemm
{
    /// <param name="degreeOfParallelism">Worker threads; 0 means <see cref="Environment.ProcessorCount"/>.</param>
    public ManagedGemm(int degreeOfParallelism = 0) : this(degreeOfParallelism, GemmMicroKernels.Best) { }

    /// <param name="degreeOfParallelism">Worker threads; 0 means <see cref="Environment.ProcessorCount"/>.</param>
    /// <param name="kernelPath">Micro-kernel to run; must be supported by this CPU.</param>
    public ManagedGemm(int degreeOfParallelism, GemmKernelPath kernelPath)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(degreeOfParallelism);
        if (!GemmMicroKernels.IsSupported(kernelPath))
            throw new ArgumentException($"GEMM kernel path {kernelPath} is not accelerated on this CPU.", nameof(kernelPath));
        DegreeOfParallelism = degreeOfParallelism == 0 ? Environment.ProcessorCount : degreeOfParallelism;
        KernelPath = kernelPath;
    }

    public string Name => "managed";

    public int DegreeOfParallelism { get; }

    public GemmKernelPath KernelPath { get; }

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        if (GemmArguments.ValidateAndHandleDegenerate(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;

        fixed (float* pa = a, pb = b, pc = c)
        {
            if (m <= GemmSkinny.MaxRows)
            {
                GemmSkinny.Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, DegreeOfParallelism);
                return;
            }
            new ManagedGemmRun(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc,
                GemmMicroKernels.Select(KernelPath), DegreeOfParallelism).Execute();
        }
    }

    /// <summary>
    /// A 16-bit weight is widened while its panels are packed, so the micro-kernels see exactly the panels an fp32
    /// copy would give and the result is bitwise the same. Decoding-sized products (no packing) go through slabs.
    /// </summary>
    public void SgemmWeight(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix b, float beta, Span<float> c, int ldc)
    {
        if (b.IsSingle || m <= GemmSkinny.MaxRows)
        {
            WeightSlabs.Run(this, transA, transB, m, n, k, alpha, a, lda, b, beta, c, ldc);
            return;
        }
        WeightSlabs.CheckShape(transB, n, k, b);
        if (GemmArguments.ValidateWeightProductAndHandleDegenerate(transA, m, n, k, alpha, a, lda, beta, c, ldc)) return;
        fixed (float* pa = a, pc = c)
        fixed (ushort* pb = b.Half)
        {
            new ManagedGemmRun(transA, transB, m, n, k, alpha, pa, lda, null, b.Cols, beta, pc, ldc,
                GemmMicroKernels.Select(KernelPath), DegreeOfParallelism, pb, b.DType).Execute();
        }
    }
}
