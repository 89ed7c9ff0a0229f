using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Tests.Tensors;

public class WeightMatrixTests
{
    [Fact]
    public void A_bf16_checkpoint_loads_its_stored_bits_and_widens_exactly_when_held_as_f32()
    {
        var dir = Directory.CreateTempSubdirectory("nirvana-weights-").FullName;
        try
        {
            var config = TestConfigs.Tiny();
            var model = RandomWeights.Create(config, seed: 4, std: 0.1f);
            CheckpointWriter.Write(Path.Combine(dir, "m"), config, model.Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)),
                new CheckpointWriteOptions { DType = DType.BF16 });
            using var checkpoint = Checkpoint.Open(Path.Combine(dir, "m"));
            Assert.Equal(DType.BF16, checkpoint.WeightDType);
            var held = ShardLoader.LoadAll(checkpoint);
            var wide = ShardLoader.LoadAll(checkpoint, holdAs: DType.F32);
            Assert.Equal(DType.BF16, held.Layers[0].QProj.DType);
            Assert.Equal(DType.F32, wide.Layers[0].QProj.DType);
            using var file = SafeTensorsFile.Open(checkpoint.FileOf("model.layers.0.mlp.down_proj.weight"));
            var stored = new byte[file.Info("model.layers.0.mlp.down_proj.weight").ByteLength];
            file.ReadBytes("model.layers.0.mlp.down_proj.weight", stored);
            Assert.Equal(stored, held.Layers[0].DownProj.BytesOfRows(0, held.Layers[0].DownProj.Rows).ToArray());
            foreach (var ((name, a, _), (_, b, _)) in held.Tensors().Zip(wide.Tensors()))
                Assert.True(a.ToSingleArray().AsSpan().SequenceEqual(b.ToSingleArray()), name);
            Assert.True(held.HeldBytes < 0.6 * wide.HeldBytes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    [InlineData(DType.F32)]
    public void Rows_columns_and_selections_read_the_values_at_their_places(DType dtype)
    {
        var w = WeightMatrix.Allocate(dtype, 5, 7);
        w.SetFromSingle(0, Enumerable.Range(0, 35).Select(i => (float)i).ToArray()); // small integers are exact in every dtype
        var rows = new float[14];
        w.RowsToSingle(2, 2, rows);
        Assert.Equal(Enumerable.Range(14, 14).Select(i => (float)i), rows);
        var cols = new float[10];
        w.ColumnsToSingle(3, 2, cols);
        Assert.Equal(new float[] { 3, 4, 10, 11, 17, 18, 24, 25, 31, 32 }, cols);
        Assert.Equal(new float[] { 28, 29, 30, 31, 32, 33, 34, 7, 8, 9, 10, 11, 12, 13 }, w.SelectRows([4, 1]).ToSingleArray());
        Assert.Equal(new float[] { 6, 0, 13, 7, 20, 14, 27, 21, 34, 28 }, w.SelectColumns([6, 0]).ToSingleArray());
        Assert.Equal(dtype, w.SelectColumns([1]).DType);
        Assert.True(w.ConvertTo(DType.F32).ConvertTo(dtype).BitwiseEquals(w));
        Assert.Equal(35L * dtype.ElementSize(), w.ByteLength);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.RowsToSingle(4, 2, new float[14]));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.SelectColumns([7]));
    }

    [Fact]
    public void Held_as_the_wrong_type_is_refused_by_name()
    {
        var w = WeightMatrix.Allocate(DType.BF16, 2, 2);
        Assert.Contains("held as BF16", Assert.Throws<InvalidOperationException>(() => { _ = w.Single.Length; }).Message);
        Assert.Throws<ArgumentException>(() => WeightMatrix.Allocate(DType.I32, 1, 1));
    }
}
