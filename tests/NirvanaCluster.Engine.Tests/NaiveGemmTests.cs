using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests;

public class NaiveGemmTests
{
    [Fact]
    public void Multiplies_a_hand_computed_two_by_two()
    {
        float[] a = [1, 2, 3, 4];
        float[] b = [5, 6, 7, 8];
        var c = new float[4];
        new NaiveGemm().Sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
        Assert.Equal([19f, 22f, 43f, 50f], c);
        new NaiveGemm().Sgemm(true, true, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
        // A^T B^T = (B A)^T; B A = [[23,34],[31,46]]
        Assert.Equal([23f, 31f, 34f, 46f], c);
    }
}
