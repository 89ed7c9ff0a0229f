using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>Swaps the process-wide backend, so it runs alone: no other test may see the stand-in.</summary>
[CollectionDefinition(nameof(GemmDefaultTests), DisableParallelization = true)]
public sealed class GemmDefaultCollection;

[Collection(nameof(GemmDefaultTests))]
public class GemmDefaultTests
{
    [Fact]
    public void Default_can_be_replaced_and_Sgemm_forwards_to_it()
    {
        var previous = Gemm.Default;
        var recorder = new RecordingGemm();
        try
        {
            Gemm.Default = recorder;
            Assert.Equal("recording", Gemm.BackendName);
            Gemm.Sgemm(false, false, 1, 1, 1, 1f, [2f], 1, [3f], 1, 0f, new float[1], 1);
            Assert.Equal(1, recorder.Calls);
        }
        finally
        {
            Gemm.Default = previous;
        }
        Assert.Throws<ArgumentNullException>(() => Gemm.Default = null!);
    }

    private sealed class RecordingGemm : IGemm
    {
        public int Calls { get; private set; }

        public string Name => "recording";

        public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
            ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) => Calls++;
    }
}
