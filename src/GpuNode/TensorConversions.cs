using System.Runtime.InteropServices;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.GpuNode;

/// <summary>Token ids and activations as attached tensors (raw little-endian).</summary>
public static class TensorConversions
{
    public static TensorPayload Tokens(int[] ids) =>
        TensorPayload.FromBytes("tokens", TensorDType.Int32, MemoryMarshal.AsBytes(ids.AsSpan()).ToArray(), ids.Length);

    public static int[] ReadTokens(TensorPayload payload)
    {
        if (payload.DType != TensorDType.Int32) throw new InvalidDataException($"tensor '{payload.Name}' must be INT32, got {payload.DType}");
        return MemoryMarshal.Cast<byte, int>(payload.Data.Span).ToArray();
    }

    public static float[] ReadFloats(TensorPayload payload) =>
        payload.TryGetFloatArray(out var array) && array.Length == payload.ElementCount ? array : payload.AsFloats().ToArray();

    public static TensorPayload? Find(IReadOnlyList<TensorPayload> tensors, string name) => tensors.FirstOrDefault(t => t.Name == name);
}
