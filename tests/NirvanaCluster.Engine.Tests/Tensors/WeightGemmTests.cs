using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tensors;
using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>
/// A product with a 16-bit weight must be bitwise the product with the same values held as fp32, on every backend:
/// the managed GEMM widens while packing, OpenBLAS and the naive oracle go through fp32 slabs of output columns.
/// </summary>
public class WeightGemmTests(ITestOutputHelper output)
{
    /// <summary>(transA, transB, m, n, k): Linear forward (NT), Linear dx (NN), skinny rows, and slabbed products (n k > 2M).</summary>
    public static TheoryData<bool, bool, int, int, int> Shapes => new()
    {
        { false, true, 7, 13, 5 },
        { false, true, 64, 288, 288 },
        { false, false, 64, 288, 768 },
        { false, true, 1, 300, 77 },
        { false, false, 2, 300, 77 },
        { true, true, 33, 70, 19 },
        { false, true, 300, 2816, 1024 },       // 2.9 M weight elements: slabs of 1920 + 896 columns
        { false, false, 300, 1024, 2816 },      // dx through the same weight: column slabs
        { false, true, 40, 32640 + 100, 64 },   // a remainder narrower than the quantum joins the last slab
        { false, false, 40, 64, 32640 + 100 },
        { false, true, 130, 40000, 64 },        // the lm_head shape: many output columns, short k
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Managed_bf16_and_f16_weights_give_the_fp32_bits(bool transA, bool transB, int m, int n, int k) =>
        Check(new ManagedGemm(), transA, transB, m, n, k);

    [OpenBlasTheory]
    [MemberData(nameof(Shapes))]
    public void OpenBlas_bf16_and_f16_weights_give_the_fp32_bits(bool transA, bool transB, int m, int n, int k) =>
        Check(new OpenBlasGemm(), transA, transB, m, n, k);

    [Fact]
    public void Naive_bf16_weight_gives_the_fp32_bits() => Check(new NaiveGemm(), false, true, 9, 31, 17);

    [Fact]
    public void A_weight_of_the_wrong_shape_is_refused_naming_it()
    {
        var w = WeightMatrix.Allocate(DType.BF16, 4, 6);
        var e = Assert.Throws<ArgumentException>(() =>
            new ManagedGemm().SgemmWeight(false, true, 3, 6, 4, 1f, new float[12], 4, w, 0f, new float[18], 6));
        Assert.Contains("BF16 [4, 6]", e.Message);
        Assert.Contains("[6, 4]", e.Message);
    }

    [Fact]
    public void Slab_widths_are_quantum_multiples_and_bounded()
    {
        Assert.Equal(288, WeightSlabs.SlabWidth(288, 288));
        var width = WeightSlabs.SlabWidth(128256, 4096);
        Assert.Equal(0, width % WeightSlabs.ColumnQuantum);
        Assert.True((long)width * 4096 <= WeightSlabs.SlabFloats);
        Assert.Equal(WeightSlabs.ColumnQuantum, WeightSlabs.SlabWidth(100, 1 << 20)); // k alone past the scratch: one quantum
    }

    private void Check(IGemm gemm, bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(m * 31 + n * 7 + k);
        var a = Values(rng, m * k);
        var (rows, cols) = transB ? (n, k) : (k, n);
        foreach (var dtype in new[] { DType.BF16, DType.F16 })
        {
            var held = WeightMatrix.Allocate(dtype, rows, cols);
            held.SetFromSingle(0, Values(rng, rows * cols));
            var single = held.ToSingleArray();
            foreach (var beta in new[] { 0f, 1f })
            {
                var c0 = Values(rng, m * n);
                var expected = (float[])c0.Clone();
                gemm.Sgemm(transA, transB, m, n, k, 1f, a, transA ? m : k, single, cols, beta, expected, n);
                var actual = (float[])c0.Clone();
                gemm.SgemmWeight(transA, transB, m, n, k, 1f, a, transA ? m : k, held, beta, actual, n);
                var differ = Enumerable.Range(0, expected.Length).Count(i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]));
                Assert.True(differ == 0, $"{gemm.Name} {dtype} beta {beta}: {differ} of {expected.Length} outputs differ from the fp32-held product");
            }
            // Held as F32 the weight goes straight through.
            var asSingle = WeightMatrix.Wrap(single, rows, cols);
            var direct = new float[m * n];
            gemm.SgemmWeight(transA, transB, m, n, k, 1f, a, transA ? m : k, asSingle, 0f, direct, n);
            var reference = new float[m * n];
            gemm.Sgemm(transA, transB, m, n, k, 1f, a, transA ? m : k, single, cols, 0f, reference, n);
            Assert.True(MemoryMarshal.AsBytes(direct.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(reference.AsSpan())));
        }
        output.WriteLine($"{gemm.Name} {(transA ? "T" : "N")}{(transB ? "T" : "N")} m={m} n={n} k={k}: bitwise equal for BF16 and F16");
    }

    private static float[] Values(Random rng, int count)
    {
        var v = new float[count];
        for (var i = 0; i < count; i++) v[i] = rng.NextSingle() * 2 - 1;
        return v;
    }
}
