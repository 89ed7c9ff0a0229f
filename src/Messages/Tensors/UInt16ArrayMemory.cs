using System.Buffers;
using System.Runtime.InteropServices;

namespace NirvanaCluster.Messages.Tensors;

/// <summary>Views a ushort[] (BF16/F16 bit patterns) as Memory&lt;byte&gt; without copying, as <see cref="FloatArrayMemory"/> does for floats.</summary>
internal sealed class UInt16ArrayMemory(ushort[] array) : MemoryManager<byte>
{
    public ushort[] Array { get; } = array;

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
