using System.Buffers;
using System.Runtime.InteropServices;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// The bytes of a float[], int[] or ushort[] as <see cref="Memory{T}"/> of bytes, without copying, so that socket
/// reads land straight in the tensor and writes leave straight from it.
/// </summary>
internal sealed class ArrayBytes : MemoryManager<byte>
{
    private readonly Array _array;
    private GCHandle _handle;
    private int _pins;

    private ArrayBytes(Array array) => _array = array;

    public static Memory<byte> Of(Array array) => new ArrayBytes(array).Memory;

    public override Span<byte> GetSpan() => _array switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        ushort[] h => MemoryMarshal.AsBytes(h.AsSpan()),
        byte[] b => b,
        _ => throw new NotSupportedException($"arrays of {_array.GetType().GetElementType()} are not tensors"),
    };

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        lock (this)
        {
            if (_pins++ == 0) _handle = GCHandle.Alloc(_array, GCHandleType.Pinned);
        }
        return new MemoryHandle((byte*)_handle.AddrOfPinnedObject() + elementIndex, default, this);
    }

    public override void Unpin()
    {
        lock (this)
        {
            if (--_pins == 0) _handle.Free();
        }
    }

    protected override void Dispose(bool disposing) { }
}
