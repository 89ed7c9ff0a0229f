using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Compaction;
using NirvanaCluster.Pruning.Plan;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Tests.Support;
using Xunit.Abstractions;

namespace NirvanaCluster.Pruning.Tests;

/// <summary>
/// Weights held at BF16 (as stored) must give exactly what the same numbers held as fp32 give: logits, scores, the
/// plan and every pruned byte, on both GEMM backends. V x D is above the slab size, so OpenBLAS computes the logits
/// through several fp32 slabs of the head.
/// </summary>
[Collection(GemmBackendCollection.Name)]
public class HeldPrecisionTests(ITestOutputHelper output)
{
    private static readonly LlamaConfig Config = new LlamaConfig
    {
        HiddenSize = 256, NumHiddenLayers = 3, NumAttentionHeads = 8, NumKeyValueHeads = 4, IntermediateSize = 384, VocabSize = 8300,
    }.Validated("test");

    public static TheoryData<string> Backends => GemmBackends.Names();

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task Bf16_held_weights_give_the_fp32_held_plan_scores_and_pruned_bytes(string backend)
    {
        var bf16 = RandomWeights.Create(Config, seed: 5, std: 0.05f, storage: DType.BF16);
        var f32 = bf16.HeldAs(DType.F32);
        Assert.True(bf16.HeldBytes < 0.55 * f32.HeldBytes, $"BF16 holds {bf16.HeldBytes:N0} bytes, F32 {f32.HeldBytes:N0}");
        var sequences = PruningFixtures.Sequences(6, 8, Config.VocabSize, 3);
        foreach (var (method, dtype) in new[] { (PruningMethod.Nirvana, DType.BF16), (PruningMethod.TaylorLoss, DType.F32), (PruningMethod.Magnitude, DType.F16) })
        {
            var held = await GemmBackends.With(backend, () => JobRun.RunAsync(Config, PruningFixtures.Stages(bf16), sequences, method, dtype));
            var single = await GemmBackends.With(backend, () => JobRun.RunAsync(Config, PruningFixtures.Stages(f32), sequences, method, dtype));
            held.AssertSameAs(single, $"{backend} {method.Name()} written as {dtype}");
            if (method != PruningMethod.Nirvana) continue;
            var split = await GemmBackends.With(backend, () => JobRun.RunAsync(Config, PruningFixtures.Stages(PruningFixtures.Split(bf16, 1, 2)), sequences, method, dtype));
            split.AssertSameAs(held, $"{backend} {method.Name()} split in three stages");
        }
        output.WriteLine($"{backend}: plans and {Config.NumHiddenLayers} layers' pruned tensors byte-identical for BF16-held and F32-held weights");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task Bf16_held_logits_are_the_fp32_held_logits_bit_for_bit(string backend)
    {
        var bf16 = RandomWeights.Create(Config with { TieWordEmbeddings = true }, seed: 8, std: 0.05f, storage: DType.BF16);
        var f32 = bf16.HeldAs(DType.F32);
        Assert.Same(f32.EmbedTokens, f32.LmHead);
        var ids = PruningFixtures.Sequences(3, 9, Config.VocabSize, 1).SelectMany(s => s).ToArray();
        var (a, b) = await GemmBackends.With(backend, () => Task.FromResult((ShardLogits.Of(bf16, ids, 3, 9), ShardLogits.Of(f32, ids, 3, 9))));
        Assert.True(a.AsSpan().SequenceEqual(b), $"{backend}: logits differ");
        output.WriteLine($"{backend}: {a.Length} logits bitwise equal");
    }

    [Fact]
    public void Compacting_bf16_weights_copies_the_stored_bits_of_the_kept_rows_and_columns()
    {
        var layer = RandomWeights.Create(Config, seed: 2, storage: DType.BF16).Layers[0];
        var plan = new LayerPlan(0, 4, 384, [1, 3], Enumerable.Range(0, 384).Where(i => i % 3 == 0).ToArray(), [], []);
        var c = Compactor.Compact(layer, plan);
        Assert.Equal(DType.BF16, c.QProj.DType);
        int d = layer.Hidden, rowsPerGroup = 2 * layer.HeadDim;
        Assert.True(layer.QProj.Half.Slice(3 * rowsPerGroup * d, rowsPerGroup * d).SequenceEqual(c.QProj.Half.Slice(rowsPerGroup * d, rowsPerGroup * d)));
        Assert.Equal(layer.DownProj.Half[5 * 384 + 9], c.DownProj.Half[5 * c.Ffn + 3]);
        // The streamed tensors are the same bits as the whole-layer compaction.
        foreach (var ((name, shape, produce), (_, whole, _)) in Compactor.CompactTensors(layer, plan).Zip(c.Tensors()))
        {
            var streamed = produce();
            Assert.True(streamed.BitwiseEquals(whole), $"{name} {TensorInfo.FormatShape(shape)}");
        }
    }
}
