namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Element types of the safetensors format. Every type the format names is recognised, so that any well-formed
/// file opens and its byte ranges are validated; only <see cref="F32"/>, <see cref="F16"/> and <see cref="BF16"/>
/// can be read as floats.
/// </summary>
public enum DType
{
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
    F8E4M3,
    F8E5M2,
}

public static class DTypes
{
    private static readonly Dictionary<string, DType> ByName = new(StringComparer.Ordinal)
    {
        ["F32"] = DType.F32, ["F16"] = DType.F16, ["BF16"] = DType.BF16, ["F64"] = DType.F64,
        ["I64"] = DType.I64, ["I32"] = DType.I32, ["I16"] = DType.I16, ["I8"] = DType.I8,
        ["U64"] = DType.U64, ["U32"] = DType.U32, ["U16"] = DType.U16, ["U8"] = DType.U8,
        ["BOOL"] = DType.Bool, ["F8_E4M3"] = DType.F8E4M3, ["F8_E5M2"] = DType.F8E5M2,
    };

    /// <summary>Parses the spelling used in safetensors headers (<c>"BF16"</c>, <c>"F8_E4M3"</c>, ...).</summary>
    public static bool TryParse(string name, out DType dtype) => ByName.TryGetValue(name, out dtype);

    /// <summary>The spelling used in safetensors headers.</summary>
    public static string SafeTensorsName(this DType dtype) => dtype switch
    {
        DType.Bool => "BOOL",
        DType.F8E4M3 => "F8_E4M3",
        DType.F8E5M2 => "F8_E5M2",
        _ => dtype.ToString(),
    };

    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 or DType.U64 => 8,
        DType.F32 or DType.I32 or DType.U32 => 4,
        DType.F16 or DType.BF16 or DType.I16 or DType.U16 => 2,
        DType.I8 or DType.U8 or DType.Bool or DType.F8E4M3 or DType.F8E5M2 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>True for the types <see cref="SafeTensorsFile.ReadAsFloat32(string, Span{float})"/> converts.</summary>
    public static bool IsReadableAsFloat32(this DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The <c>torch_dtype</c> spelling Hugging Face configs use for the float types.</summary>
    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only F32, F16 and BF16 have a torch_dtype here"),
    };
}
