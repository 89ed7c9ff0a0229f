using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

public class SafeTensorsWriterTests
{
    private static readonly float[] Values = [1f, -2.5f, 3.140625f, 0f, -0f, 65504f, 1e-3f, float.PositiveInfinity];

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Round_trips_each_dtype_through_the_reader(DType dtype)
    {
        using var temp = new TempDirectory();
        var path = temp.File("x.safetensors");
        var random = new Random(7);
        var big = Enumerable.Range(0, 300_001).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray(); // spans chunks
        SafeTensorsWriter.Write(path, [new NamedTensor("small", [2, 4], Values), new NamedTensor("big", [300_001], big)], dtype);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(dtype, file.Tensors["small"].DType);
        Assert.Equal([2L, 4L], file.Tensors["small"].Shape);
        Assert.Equal(Values.Select(v => Expected(v, dtype)), file.ReadAsFloat32("small"));
        Assert.Equal(big.Select(v => Expected(v, dtype)), file.ReadAsFloat32("big"));
    }

    [Fact]
    public void Writes_the_layout_Hugging_Face_writes()
    {
        using var temp = new TempDirectory();
        var path = temp.File("x.safetensors");
        SafeTensorsWriter.Write(path,
            [new NamedTensor("first", [3], new float[] { 1, 2, 3 }), new NamedTensor("second", [1, 1], new float[] { 4 })],
            DType.F32, new Dictionary<string, string> { ["format"] = "pt" });

        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8); // data starts 8-aligned
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        Assert.EndsWith("}", header.TrimEnd(' ')); // the padding is spaces only
        using var json = JsonDocument.Parse(header);
        Assert.Equal("pt", json.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        Assert.Equal("[0,12]", json.RootElement.GetProperty("first").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[12,16]", json.RootElement.GetProperty("second").GetProperty("data_offsets").GetRawText());
        Assert.Equal(8 + headerLength + 16, bytes.Length);
        Assert.Equal(4f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + headerLength + 12)));
    }

    [Fact]
    public void A_failing_producer_leaves_no_file_and_keeps_the_previous_one()
    {
        using var temp = new TempDirectory();
        var path = temp.File("x.safetensors");
        SafeTensorsWriter.Write(path, [new NamedTensor("old", [1], new float[] { 9 })]);
        var error = Assert.Throws<InvalidOperationException>(() => SafeTensorsWriter.Write(path,
            [new NamedTensor("a", [1], new float[] { 1 }), new NamedTensor("b", [1], () => throw new InvalidOperationException("producer failed"))]));
        Assert.Equal("producer failed", error.Message);
        Assert.Equal(["x.safetensors"], temp.Entries());
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([9f], file.ReadAsFloat32("old"));
    }

    [Fact]
    public void Refuses_bad_tensors_naming_them()
    {
        using var temp = new TempDirectory();
        var path = temp.File("x.safetensors");
        Assert.Contains("'a'", Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(path, [new NamedTensor("a", [3], new float[2])])).Message);
        Assert.Contains("'a'", Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(path, [new NamedTensor("a", [1], new float[1]), new NamedTensor("a", [1], new float[1])])).Message);
        Assert.Contains("'n'", Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(path, [new NamedTensor("n", [-1], new float[1])])).Message);
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new NamedTensor("i", [1], new float[1])], DType.I32));
        Assert.Empty(temp.Entries());
    }

    private static float Expected(float value, DType dtype) => dtype switch
    {
        DType.F16 => (float)(Half)value,
        DType.BF16 => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(value)),
        _ => value,
    };
}
