namespace NirvanaCluster.Engine.Gguf;

/// <summary>How <see cref="GgufExporter"/> writes a model.</summary>
public sealed record GgufExportOptions
{
    /// <summary>Type of the 2-D weights; norms, biases and rope factors stay F32.</summary>
    public GgufDType DType { get; init; } = GgufDType.F32;

    /// <summary>Replace an existing output file (only once the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary><c>general.name</c>; default: the model folder's name.</summary>
    public string? Name { get; init; }
}

/// <summary>A tensor Q8_0 could not take because its rows do not split into blocks of 32, and the type it got instead.</summary>
public sealed record GgufFallback(string Tensor, long RowWidth, GgmlType StoredAs);

/// <summary>What an export wrote.</summary>
public sealed record GgufExportSummary(
    string Output,
    GgufDType DType,
    long Bytes,
    int Tensors,
    IReadOnlyDictionary<GgmlType, int> TensorsByType,
    IReadOnlyList<GgufFallback> Fallbacks,
    GgufVocabularyInfo Vocabulary,
    IReadOnlyList<string> Notes);
