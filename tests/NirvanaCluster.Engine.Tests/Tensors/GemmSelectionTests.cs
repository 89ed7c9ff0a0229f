using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

public class GemmSelectionTests
{
    private const string Source = "test";

    [Theory]
    [InlineData("managed", "managed")]
    [InlineData(" Naive ", "naive")]
    [InlineData("MANAGED", "managed")]
    public void Named_backends_are_created(string requested, string expected)
        => Assert.Equal(expected, Gemm.Choose(requested, openBlasAvailable: false, Source).Backend.Name);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("auto")]
    public void Auto_prefers_OpenBLAS_and_falls_back_to_managed(string? requested)
    {
        var fallback = Gemm.Choose(requested, openBlasAvailable: false, Source);
        Assert.IsType<ManagedGemm>(fallback.Backend);
        Assert.Contains("OpenBLAS unavailable", fallback.Reason);
        if (OpenBlasGemm.IsAvailable)
            Assert.IsType<OpenBlasGemm>(Gemm.Choose(requested, openBlasAvailable: true, Source).Backend);
    }

    [Fact]
    public void Forcing_OpenBLAS_without_the_library_says_how_to_fix_it()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Gemm.Choose("openblas", openBlasAvailable: false, Source));
        Assert.Contains("libopenblas0-pthread", error.Message);
        Assert.Contains(Gemm.EnvironmentVariable, error.Message);
    }

    [Fact]
    public void An_unknown_name_lists_the_choices()
    {
        var error = Assert.Throws<ArgumentException>(() => Gemm.Create("cublas"));
        Assert.Contains("'cublas'", error.Message);
        Assert.Contains("auto, openblas, managed or naive", error.Message);
    }

    [OpenBlasFact]
    public void Create_builds_OpenBLAS_when_it_loads() => Assert.Equal("openblas", Gemm.Create("openblas").Name);
}
