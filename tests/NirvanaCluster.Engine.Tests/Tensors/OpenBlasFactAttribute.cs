using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>A fact that is skipped, not failed, where libopenblas is not installed (CI installs it).</summary>
public sealed class OpenBlasFactAttribute : FactAttribute
{
    public OpenBlasFactAttribute()
    {
        if (!OpenBlasGemm.IsAvailable) Skip = $"OpenBLAS not available: {OpenBlasGemm.LibraryDescription}";
    }
}

/// <summary>A theory that is skipped, not failed, where libopenblas is not installed (CI installs it).</summary>
public sealed class OpenBlasTheoryAttribute : TheoryAttribute
{
    public OpenBlasTheoryAttribute()
    {
        if (!OpenBlasGemm.IsAvailable) Skip = $"OpenBLAS not available: {OpenBlasGemm.LibraryDescription}";
    }
}
