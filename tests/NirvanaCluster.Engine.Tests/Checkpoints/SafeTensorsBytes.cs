using System.Buffers.Binary;
using System.Text;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

/// <summary>Builds safetensors files byte by byte, independently of the writer under test.</summary>
internal static class SafeTensorsBytes
{
    /// <summary>8-byte little-endian header length, the header's UTF-8 bytes, then the data parts concatenated.</summary>
    public static byte[] Build(string header, params byte[][] data)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new List<byte>();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        bytes.AddRange(length);
        bytes.AddRange(json);
        foreach (var part in data) bytes.AddRange(part);
        return [.. bytes];
    }

    public static byte[] LittleEndianFloats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    public static byte[] LittleEndianUInt16(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), values[i]);
        return bytes;
    }
}
