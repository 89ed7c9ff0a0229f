using System.Buffers;
using System.Runtime.InteropServices;

namespace NirvanaCluster.Messages.Tensors;

/// <summary>Views a float[] as Memory&lt;byte&gt; without copying, so tensors go to and come off the wire in place.</summary>
internal sealed class FloatArrayMemory(float[] array) : MemoryManager<byte>
{
    public float[] Array { get; } = array;

    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(Array.AsSpan());

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var handle = GCHandle.Alloc(Array, GCHandleType.Pinned);
        var pointer = (byte*)handle.AddrOfPinnedObject() + elementIndex;
        return new MemoryHandle(pointer, handle, this);
    }

    public override void Unpin()
    {
        // The GCHandle travels inside the MemoryHandle and is freed when that is disposed.
    }

    protected override void Dispose(bool disposing)
    {
    }
}
