using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// A safetensors file opened for reading: the header is parsed and validated at <see cref="Open"/>; a tensor's
/// bytes are read only when asked for, by positioned reads of exactly its byte range, so a node that needs a few
/// layers never touches the rest of the file. Reads are thread-safe (no shared file position).
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private const int ChunkBytes = 1 << 20;
    private readonly SafeFileHandle handle;

    private SafeTensorsFile(string path, SafeFileHandle handle, SafeTensorsHeader header)
    {
        Path = path;
        this.handle = handle;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }
    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates; throws <see cref="InvalidDataException"/> naming the file for any malformed header.</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this reader assumes a little-endian host");
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            var length = RandomAccess.GetLength(handle);
            if (length < 8)
                throw new InvalidDataException($"{path}: file is {length} bytes; a safetensors file starts with an 8-byte header length");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path, "the header length");
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > SafeTensorsHeader.MaxHeaderBytes)
                throw new InvalidDataException($"{path}: header length {headerLength} exceeds the {SafeTensorsHeader.MaxHeaderBytes}-byte limit");
            if ((long)headerLength > length - 8)
                throw new InvalidDataException($"{path}: header length {headerLength} runs past the end of the file ({length} bytes)");
            var json = new byte[headerLength];
            ReadExactly(handle, json, 8, path, "the header");
            var header = SafeTensorsHeader.Parse(json, 8 + (long)headerLength, length, path);
            return new SafeTensorsFile(path, handle, header);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public TensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var info) ? info : throw new InvalidDataException($"{Path}: no tensor '{name}'");

    public float[] ReadAsFloat32(string name)
    {
        var info = Info(name);
        if (info.ElementCount > Array.MaxLength)
            throw new NotSupportedException($"{Path}: tensor '{name}' has {info.ElementCount} elements, more than one array holds");
        var values = new float[info.ElementCount];
        ReadAsFloat32(name, values);
        return values;
    }

    /// <summary>Reads the tensor into <paramref name="destination"/> (exactly its element count), widening F16/BF16.</summary>
    public void ReadAsFloat32(string name, Span<float> destination)
    {
        var info = Info(name);
        if (!info.DType.IsReadableAsFloat32())
            throw new InvalidDataException($"unsupported dtype {info.DType.SafeTensorsName()} for tensor {name} in {Path} (readable: F32, F16, BF16)");
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"{Path}: tensor '{name}' has {info.ElementCount} elements, destination holds {destination.Length}", nameof(destination));
        if (info.DType == DType.F32)
        {
            ReadExactly(handle, MemoryMarshal.AsBytes(destination), info.Offset, Path, $"tensor '{name}'");
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ChunkBytes, info.ByteLength));
        try
        {
            var done = 0;
            while (done < destination.Length)
            {
                var count = Math.Min(destination.Length - done, buffer.Length / 2);
                var bytes = buffer.AsSpan(0, count * 2);
                ReadExactly(handle, bytes, info.Offset + 2L * done, Path, $"tensor '{name}'");
                var target = destination.Slice(done, count);
                if (info.DType == DType.F16)
                    FloatConversion.HalfToSingle(MemoryMarshal.Cast<byte, Half>(bytes), target);
                else
                    FloatConversion.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(bytes), target);
                done += count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Copies the tensor's stored bytes unchanged (any dtype).</summary>
    public void ReadBytes(string name, Span<byte> destination)
    {
        var info = Info(name);
        if (destination.Length != info.ByteLength)
            throw new ArgumentException($"{Path}: tensor '{name}' has {info.ByteLength} bytes, destination holds {destination.Length}", nameof(destination));
        ReadExactly(handle, destination, info.Offset, Path, $"tensor '{name}'");
    }

    /// <summary>Copies <paramref name="destination"/>.Length stored bytes of the tensor starting <paramref name="offset"/> bytes into it.</summary>
    public void ReadBytes(string name, long offset, Span<byte> destination)
    {
        var info = Info(name);
        if (offset < 0 || offset + destination.Length > info.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: bytes [{offset}, {offset + destination.Length}) are outside tensor '{name}' ({info.ByteLength} bytes)");
        ReadExactly(handle, destination, info.Offset + offset, Path, $"tensor '{name}'");
    }

    public void Dispose() => handle.Dispose();

    private static void ReadExactly(SafeFileHandle handle, Span<byte> destination, long offset, string path, string what)
    {
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(handle, destination, offset);
            if (read == 0)
                throw new InvalidDataException($"{path}: file ended at byte {offset} while reading {what}; it was truncated");
            destination = destination[read..];
            offset += read;
        }
    }
}
