using System.Buffers.Binary;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

public class SafeTensorsFileTests
{
    [Fact]
    public void Reads_a_file_written_byte_by_byte()
    {
        using var temp = new TempDirectory();
        var path = temp.File("hand.safetensors");
        // header {"w":...} describes 2x2 F32 at [0,16), then a BF16 [3] at [16,22) and an F16 [1] at [22,24)
        var header = Json(
            "{'__metadata__':{'format':'pt'},'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]}," +
            "'b':{'dtype':'BF16','shape':[3],'data_offsets':[16,22]},'h':{'dtype':'F16','shape':[1],'data_offsets':[22,24]}}");
        byte[] data =
        [
            0x00, 0x00, 0x80, 0x3F, // 1.0f
            0x00, 0x00, 0x20, 0xC0, // -2.5f
            0x00, 0x00, 0x00, 0x00, // 0.0f
            0x00, 0x00, 0x00, 0x42, // 32.0f
            0x80, 0x3F,             // bf16 1.0
            0x40, 0xC0,             // bf16 -3.0
            0x49, 0x40,             // bf16 3.140625
            0x00, 0x3C,             // half 1.0
        ];
        File.WriteAllBytes(path, SafeTensorsBytes.Build(header, data));

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(["b", "h", "w"], file.Tensors.Keys.Order());
        var w = file.Tensors["w"];
        Assert.Equal(DType.F32, w.DType);
        Assert.Equal([2L, 2L], w.Shape);
        Assert.Equal(8 + header.Length, w.Offset);
        Assert.Equal(16, w.ByteLength);
        Assert.Equal([1f, -2.5f, 0f, 32f], file.ReadAsFloat32("w"));
        Assert.Equal([1f, -3f, 3.140625f], file.ReadAsFloat32("b"));
        Assert.Equal([1f], file.ReadAsFloat32("h"));
    }

    [Fact]
    public void An_empty_file_of_tensors_and_a_zero_sized_tensor_are_valid()
    {
        using var temp = new TempDirectory();
        var path = temp.File("empty.safetensors");
        File.WriteAllBytes(path, SafeTensorsBytes.Build("""{"z":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}}"""));
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.ReadAsFloat32("z"));
    }

    /// <summary>
    /// A sparse 3 GiB file: opening and reading the small tensor after the big one must touch only the header and
    /// that tensor's 8 bytes, and offsets beyond 2^31 must work.
    /// </summary>
    [Fact]
    public void Reads_one_tensor_past_two_gigabytes_without_reading_the_rest()
    {
        using var temp = new TempDirectory();
        var path = temp.File("sparse.safetensors");
        const long big = 3L << 30;
        var header = Json($"{{'big':{{'dtype':'F32','shape':[{big / 4}],'data_offsets':[0,{big}]}}," +
                          $"'small':{{'dtype':'F32','shape':[2],'data_offsets':[{big},{big + 8}]}}}}");
        var prefix = SafeTensorsBytes.Build(header);
        using (var stream = File.Create(path))
        {
            stream.Write(prefix);
            stream.SetLength(prefix.Length + big + 8);
            stream.Position = prefix.Length + big;
            stream.Write(SafeTensorsBytes.LittleEndianFloats(7f, -7f));
        }
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(prefix.Length + big, file.Tensors["small"].Offset);
        Assert.Equal([7f, -7f], file.ReadAsFloat32("small"));
    }

    [Fact]
    public void An_integer_tensor_opens_but_reading_it_as_float_names_dtype_tensor_and_file()
    {
        using var temp = new TempDirectory();
        var path = temp.File("ints.safetensors");
        File.WriteAllBytes(path, SafeTensorsBytes.Build("""{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", new byte[8]));
        using var file = SafeTensorsFile.Open(path);
        var error = Assert.Throws<InvalidDataException>(() => file.ReadAsFloat32("ids"));
        Assert.Contains($"unsupported dtype I64 for tensor ids in {path}", error.Message);
    }

    [Fact]
    public void A_missing_tensor_and_a_wrong_destination_length_are_named()
    {
        using var temp = new TempDirectory();
        var path = temp.File("one.safetensors");
        File.WriteAllBytes(path, SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8]));
        using var file = SafeTensorsFile.Open(path);
        Assert.Contains("'nope'", Assert.Throws<InvalidDataException>(() => file.ReadAsFloat32("nope")).Message);
        Assert.Contains("'a'", Assert.Throws<ArgumentException>(() => file.ReadAsFloat32("a", new float[3])).Message);
    }

    public static TheoryData<string, byte[], string?> MalformedFiles()
    {
        const string ok = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        var eight = new byte[8];
        var data = new TheoryData<string, byte[], string?>
        {
            { "shorter than the length prefix", [1, 2, 3], null },
            { "header length past the end", WithLength(SafeTensorsBytes.Build(ok, eight), 1000), null },
            { "header length absurdly large", WithLength(SafeTensorsBytes.Build(ok, eight), ulong.MaxValue - 3), null },
            { "header not JSON", SafeTensorsBytes.Build("""{"a":{"dtype":"F32",""", eight), null },
            { "header not an object", SafeTensorsBytes.Build("[1,2,3]", eight), null },
            { "empty header", SafeTensorsBytes.Build("", eight), null },
            { "entry not an object", SafeTensorsBytes.Build("""{"a":5}""", eight), "a" },
            { "offsets out of range", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", eight), "a" },
            { "overlapping ranges", SafeTensorsBytes.Build(
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]), "b" },
            { "end before begin", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", eight), "a" },
            { "byte size is not the shape's", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", eight), "a" },
            { "negative dimension", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", eight), "a" },
            { "fractional dimension", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", eight), "a" },
            { "shape overflows", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"""), "a" },
            { "duplicate names", SafeTensorsBytes.Build(
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", eight), "a" },
            { "truncated data", SafeTensorsBytes.Build(ok, new byte[5]), "a" },
            { "gap between tensors", SafeTensorsBytes.Build(
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]), "b" },
            { "bytes after the last tensor", SafeTensorsBytes.Build(ok, new byte[12]), null },
            { "unknown dtype", SafeTensorsBytes.Build("""{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}""", eight), "a" },
            { "dtype not a string", SafeTensorsBytes.Build("""{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}""", eight), "a" },
            { "missing shape", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","data_offsets":[0,8]}}""", eight), "a" },
            { "missing data_offsets", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2]}}""", eight), "a" },
            { "three offsets", SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}""", eight), "a" },
            { "metadata value not a string", SafeTensorsBytes.Build("""{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", eight), "format" },
        };
        return data;

        static byte[] WithLength(byte[] file, ulong length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(file, length);
            return file;
        }
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void A_malformed_file_is_refused_naming_file_and_tensor_and_leaves_nothing_behind(string what, byte[] bytes, string? tensor)
    {
        using var temp = new TempDirectory();
        var path = temp.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() =>
        {
            using var file = SafeTensorsFile.Open(path);
            foreach (var name in file.Tensors.Keys) file.ReadAsFloat32(name);
        });
        Assert.True(error.Message.Contains(path), $"{what}: '{error.Message}' does not name the file");
        if (tensor is not null)
            Assert.True(error.Message.Contains(tensor), $"{what}: '{error.Message}' does not name '{tensor}'");
        Assert.Equal(["bad.safetensors"], temp.Entries());
    }

    [Fact]
    public void Invalid_UTF8_bytes_in_the_header_are_refused()
    {
        using var temp = new TempDirectory();
        var path = temp.File("utf8.safetensors");
        var bytes = SafeTensorsBytes.Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":"??"}""", new byte[8]);
        var at = Array.IndexOf(bytes, (byte)'?');
        bytes[at] = 0xC3; // a lead byte followed by '?' is not UTF-8
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
    }

    [Fact]
    public void A_file_truncated_after_opening_is_reported_when_read()
    {
        using var temp = new TempDirectory();
        var path = temp.File("shrinks.safetensors");
        File.WriteAllBytes(path, SafeTensorsBytes.Build("""{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}""", new byte[8]));
        using var file = SafeTensorsFile.Open(path);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) stream.SetLength(stream.Length - 3);
        var error = Assert.Throws<InvalidDataException>(() => file.ReadAsFloat32("a"));
        Assert.Contains("tensor 'a'", error.Message);
        Assert.Contains("truncated", error.Message);
    }

    /// <summary>JSON written with single quotes, for readability in C# source.</summary>
    private static string Json(string text) => text.Replace('\'', '"');
}
