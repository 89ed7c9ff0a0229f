using System.Text;
using NirvanaCluster.Engine.Gguf;
using NirvanaCluster.Engine.Tests.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Gguf;

/// <summary>The bytes the writer produces, against ggml's docs/gguf.md laid out by hand.</summary>
public class GgufWriterTests
{
    [Fact]
    public void Header_metadata_tensor_info_padding_and_data_are_laid_out_as_the_spec_says()
    {
        var metadata = new GgufMetadata().String("general.architecture", "deci").UInt32("x.n", 7).Int32s("x.a", [1, -2]).Bool("x.b", true);
        using var stream = new MemoryStream();
        GgufWriter.Write(stream, metadata, [new GgufTensor("t", [2], GgmlType.F32, () => new float[] { 1f, 2f })]);

        var e = new List<byte>();
        void U32(uint v) => e.AddRange(BitConverter.GetBytes(v));
        void U64(ulong v) => e.AddRange(BitConverter.GetBytes(v));
        void Str(string s) { U64((ulong)s.Length); e.AddRange(Encoding.UTF8.GetBytes(s)); }
        e.AddRange("GGUF"u8.ToArray()); U32(3); U64(1); U64(4);
        Str("general.architecture"); U32(8); Str("deci");
        Str("x.n"); U32(4); U32(7);
        Str("x.a"); U32(9); U32(5); U64(2); U32(1); U32(unchecked((uint)-2));
        Str("x.b"); U32(7); e.Add(1);
        Str("t"); U32(1); U64(2); U32(0); U64(0);
        while (e.Count % 32 != 0) e.Add(0);
        e.AddRange(BitConverter.GetBytes(1f)); e.AddRange(BitConverter.GetBytes(2f));
        while (e.Count % 32 != 0) e.Add(0);
        Assert.Equal(e.ToArray(), stream.ToArray());
    }

    [Fact]
    public void Tensor_offsets_are_aligned_and_the_reader_gets_back_what_was_written()
    {
        using var temp = new TempDirectory();
        var path = temp.File("m.gguf");
        var w = Enumerable.Range(0, 64 * 3).Select(i => (float)Math.Sin(i)).ToArray();
        var metadata = new GgufMetadata().Strings("tokens", ["a", "▁b", "<0x0A>"]).Float32("eps", 1e-5f);
        GgufWriter.WriteFile(path, force: false, metadata,
        [
            new GgufTensor("odd", [3], GgmlType.F32, () => new float[] { 1, 2, 3 }),
            new GgufTensor("w16", [64, 3], GgmlType.F16, () => w),
            new GgufTensor("wbf", [64, 3], GgmlType.BF16, () => w),
            new GgufTensor("wq", [64, 3], GgmlType.Q8_0, () => w),
        ]);
        var r = GgufReader.Open(path);
        Assert.Equal(["a", "▁b", "<0x0A>"], (string[])r.Metadata["tokens"]!.Value);
        Assert.Equal(1e-5f, (float)r.Metadata["eps"]!.Value);
        Assert.All(r.Tensors, t => Assert.Equal(0, (t.Offset - r.DataOffset) % 32));
        Assert.Equal([12L, 64 * 3 * 2, 64 * 3 * 2, 3 * 2 * 34], r.Tensors.Select(t => t.ByteLength));
        var q = GgufReader.ReadTensorBytes(path, r.Tensor("wq"));
        var expected = new byte[q.Length];
        for (var row = 0; row < 3; row++) Q8_0.QuantizeRow(w.AsSpan(row * 64, 64), expected.AsSpan(row * 68, 68));
        Assert.Equal(expected, q);
        var half = GgufReader.ReadTensorBytes(path, r.Tensor("w16"));
        Assert.Equal((float)(Half)w[5], (float)BitConverter.ToHalf(half, 10));
        Assert.Equal(new FileInfo(path).Length, GgufWriter.Align(r.Tensors[^1].Offset + r.Tensors[^1].ByteLength)); // the last tensor is padded too
    }

    [Fact]
    public void An_existing_file_is_refused_without_force_and_no_temporary_file_is_left()
    {
        using var temp = new TempDirectory();
        var path = temp.File("m.gguf");
        File.WriteAllText(path, "keep");
        var tensors = new[] { new GgufTensor("t", [1], GgmlType.F32, () => new float[] { 1 }) };
        Assert.Throws<IOException>(() => GgufWriter.WriteFile(path, false, new GgufMetadata(), tensors));
        Assert.Equal("keep", File.ReadAllText(path));
        // A producer that fails half-way leaves the old file and no partial one.
        var failing = new[] { new GgufTensor("t", [1], GgmlType.F32, () => throw new InvalidDataException("broken")) };
        Assert.Throws<InvalidDataException>(() => GgufWriter.WriteFile(path, true, new GgufMetadata(), failing));
        Assert.Equal("keep", File.ReadAllText(path));
        GgufWriter.WriteFile(path, true, new GgufMetadata(), tensors);
        Assert.Single(GgufReader.Open(path).Tensors);
        Assert.Equal(["m.gguf"], temp.Entries());
    }

    [Fact]
    public void Refuses_what_the_format_cannot_hold()
    {
        using var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(stream, new GgufMetadata(), [new GgufTensor("q", [33, 2], GgmlType.Q8_0, () => new float[66])]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(stream, new GgufMetadata(),
            [new GgufTensor("t", [1], GgmlType.F32, () => new float[1]), new GgufTensor("t", [1], GgmlType.F32, () => new float[1])]));
        Assert.Throws<ArgumentException>(() => new GgufMetadata().UInt32("k", 1).UInt32("k", 2));
        var overflow = Assert.Throws<InvalidDataException>(() => GgufWriter.Write(new MemoryStream(), new GgufMetadata(),
            [new GgufTensor("big", [2], GgmlType.F16, () => new float[] { 1, 70000 })]));
        Assert.Contains("F16 range", overflow.Message);
    }
}
