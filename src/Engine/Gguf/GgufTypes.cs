namespace NirvanaCluster.Engine.Gguf;

/// <summary>Metadata value types of the GGUF format (version 3), numbered as in ggml's <c>gguf_type</c>.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>The ggml tensor types this project writes, numbered as in ggml's <c>ggml_type</c>.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
    BF16 = 30,
}

public static class GgmlTypes
{
    /// <summary>Q8_0 quantizes blocks of this many consecutive values of a row.</summary>
    public const int Q8_0BlockSize = 32;

    /// <summary>One Q8_0 block: an F16 scale and 32 int8 values.</summary>
    public const int Q8_0BlockBytes = 2 + Q8_0BlockSize;

    /// <summary>Bytes of one row of <paramref name="width"/> values (the ggml <c>ne[0]</c> dimension).</summary>
    public static long RowBytes(this GgmlType type, long width) => type switch
    {
        GgmlType.F32 => width * 4,
        GgmlType.F16 or GgmlType.BF16 => width * 2,
        GgmlType.Q8_0 => width % Q8_0BlockSize == 0
            ? width / Q8_0BlockSize * Q8_0BlockBytes
            : throw new ArgumentException($"a Q8_0 row needs a multiple of {Q8_0BlockSize} values (got {width})"),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a type this writer knows"),
    };

    /// <summary>The name llama.cpp prints for the type.</summary>
    public static string Name(this GgmlType type) => type switch
    {
        GgmlType.F32 => "F32",
        GgmlType.F16 => "F16",
        GgmlType.BF16 => "BF16",
        GgmlType.Q8_0 => "Q8_0",
        _ => type.ToString(),
    };
}

/// <summary>What <c>--dtype</c> of <c>nirvana export</c> asks for: the type of the 2-D weights.</summary>
public enum GgufDType
{
    F32,
    F16,
    BF16,
    Q8_0,
}

public static class GgufDTypes
{
    public const string Choices = "f32 | f16 | bf16 | q8_0";

    /// <summary>Parses a flag value; <paramref name="flag"/> is named in the error.</summary>
    public static GgufDType Parse(string value, string flag = "--dtype") => value.ToLowerInvariant() switch
    {
        "f32" or "float32" => GgufDType.F32,
        "f16" or "float16" => GgufDType.F16,
        "bf16" or "bfloat16" => GgufDType.BF16,
        "q8_0" or "q8" => GgufDType.Q8_0,
        _ => throw new ArgumentException($"{flag}: unknown value '{value}', expected {Choices}"),
    };

    public static string FlagName(this GgufDType dtype) => dtype.ToString().ToLowerInvariant();

    /// <summary>The ggml type of a 2-D weight at this setting (Q8_0 rows that do not split into blocks fall back elsewhere).</summary>
    public static GgmlType WeightType(this GgufDType dtype) => dtype switch
    {
        GgufDType.F32 => GgmlType.F32,
        GgufDType.F16 => GgmlType.F16,
        GgufDType.BF16 => GgmlType.BF16,
        GgufDType.Q8_0 => GgmlType.Q8_0,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary><c>general.file_type</c>, llama.cpp's <c>llama_ftype</c>: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32.</summary>
    public static uint FileType(this GgufDType dtype) => dtype switch
    {
        GgufDType.F32 => 0,
        GgufDType.F16 => 1,
        GgufDType.Q8_0 => 7,
        GgufDType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
