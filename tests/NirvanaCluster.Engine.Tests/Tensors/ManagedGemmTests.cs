using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

public class ManagedGemmTests
{
    public static TheoryData<GemmCase> Cases => GemmShapes.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_the_naive_oracle(GemmCase g) => GemmCheck.MatchesNaive(new ManagedGemm(), g);

    public static TheoryData<GemmKernelPath, bool, bool> KernelPaths()
    {
        var data = new TheoryData<GemmKernelPath, bool, bool>();
        foreach (var path in Enum.GetValues<GemmKernelPath>())
            foreach (var (transA, transB) in GemmShapes.Transposes)
                data.Add(path, transA, transB);
        return data;
    }

    [Theory]
    [MemberData(nameof(KernelPaths))]
    public void Every_kernel_path_matches_the_naive_oracle(GemmKernelPath path, bool transA, bool transB)
    {
        if (!GemmMicroKernels.IsSupported(path))
        {
            Assert.Throws<ArgumentException>(() => new ManagedGemm(1, path));
            return;
        }
        var gemm = new ManagedGemm(1, path);
        var i = 0;
        foreach (var (m, n, k) in new[] { (1, 1, 1), (6, 16, 8), (7, 17, 9), (29, 35, 47), (61, 43, 260) })
            GemmCheck.MatchesNaive(gemm, GemmShapes.Variant(new GemmCase(transA, transB, m, n, k, Seed: i), i++));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void Any_thread_count_gives_the_naive_result(int threads)
    {
        var gemm = new ManagedGemm(threads);
        var i = 0;
        foreach (var (m, n, k) in new[] { (121, 133, 150), (13, 520, 257), (300, 37, 130), (97, 101, 61), (2, 2100, 70) })
            foreach (var (transA, transB) in GemmShapes.Transposes)
                GemmCheck.MatchesNaive(gemm, GemmShapes.Variant(new GemmCase(transA, transB, m, n, k, Seed: i), i++));
    }

    [Fact]
    public void Alpha_zero_scales_C_by_beta_without_reading_A_or_B()
    {
        float[] a = [float.NaN, float.NaN, float.NaN, float.NaN];
        float[] b = [float.NaN, float.NaN, float.NaN, float.NaN];
        float[] c = [1, 2, 3, 4];
        new ManagedGemm().Sgemm(false, false, 2, 2, 2, 0f, a, 2, b, 2, 0.5f, c, 2);
        Assert.Equal([0.5f, 1f, 1.5f, 2f], c);
    }

    [Fact]
    public void Rejects_a_kernel_path_this_cpu_cannot_run_or_a_negative_thread_count()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ManagedGemm(-1));
        Assert.Equal(Environment.ProcessorCount, new ManagedGemm().DegreeOfParallelism);
        Assert.Equal(GemmKernelPath.Scalar, new ManagedGemm(1, GemmKernelPath.Scalar).KernelPath);
    }
}
