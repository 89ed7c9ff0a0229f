using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

public class OpenBlasGemmTests
{
    public static TheoryData<GemmCase> Cases => GemmShapes.Cases();

    [OpenBlasTheory]
    [MemberData(nameof(Cases))]
    public void Matches_the_naive_oracle(GemmCase g) => GemmCheck.MatchesNaive(new OpenBlasGemm(), g);

    [OpenBlasTheory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Managed_matches_OpenBLAS_on_a_larger_product(bool transA, bool transB)
    {
        var g = new GemmCase(transA, transB, 301, 517, 403, Alpha: 0.75f, Beta: -0.5f, PadA: 2, PadB: 3, PadC: 4);
        GemmCheck.Matches(new ManagedGemm(), new OpenBlasGemm(), g, magnitudeBackend: new OpenBlasGemm());
    }

    [OpenBlasFact]
    public void Thread_count_can_be_set_and_read_back()
    {
        var before = OpenBlasGemm.ThreadCount;
        try
        {
            OpenBlasGemm.ThreadCount = 1;
            Assert.Equal(1, OpenBlasGemm.ThreadCount);
        }
        finally
        {
            OpenBlasGemm.ThreadCount = Math.Max(1, before);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenBlasGemm.ThreadCount = 0);
    }

    [Fact]
    public void Construction_fails_clearly_or_availability_is_true()
    {
        if (OpenBlasGemm.IsAvailable)
        {
            Assert.Equal("openblas", new OpenBlasGemm().Name);
            return;
        }
        var error = Assert.Throws<InvalidOperationException>(() => new OpenBlasGemm());
        Assert.Contains("libopenblas", error.Message);
    }
}
