using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Pruning.Calibration;

/// <summary>
/// Checks, before any work, that the data a flag asks for fits: in this process's available memory (the GC's
/// figure, which honours container limits) and in .NET's largest array. `--samples 2147483647` used to end in an
/// OutOfMemoryException stack trace after the model had loaded; now it is a usage error with the estimate.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>Bytes this process may still allocate (overridable for tests through NIRVANA_MEMORY_LIMIT_BYTES).</summary>
    public static long AvailableBytes =>
        long.TryParse(Environment.GetEnvironmentVariable("NIRVANA_MEMORY_LIMIT_BYTES"), out var limit) && limit > 0
            ? limit
            : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Samples drawn from the model all at once (generated calibration, `sample`, `evaluate --generated`): the key/value
    /// cache [N, T, Hkv*Dh] per layer for keys and values, logits [N, V] and the token lists.
    /// </summary>
    public static void CheckGenerated(LlamaConfig config, int count, int length, string flag)
    {
        var kvWidth = Enumerable.Range(0, config.NumHiddenLayers).Select(l => (long)config.KvHeadsOf(l) * config.HeadDim).ToArray();
        long perSample = 2L * kvWidth.Sum() * length * sizeof(float) + (long)config.VocabSize * sizeof(float) + 2L * length * sizeof(int) + 64;
        long largestArrayPerSample = Math.Max(kvWidth.Max() * length, config.VocabSize);
        Check(count, perSample, largestArrayPerSample, $"{flag} {count} samples of {length} tokens (drawn together, with their key/value cache)", flag);
    }

    /// <summary>Token sequences held in memory (text windows, a token file's rows).</summary>
    public static void CheckTokens(int count, int length, string flag) =>
        Check(count, (long)length * sizeof(int) + 32, length, $"{flag} {count} sequences of {length} tokens", flag);

    private static void Check(long count, long bytesPerItem, long largestArrayPerItem, string what, string flag)
    {
        var largest = (double)count * largestArrayPerItem;
        if (largest > Array.MaxLength)
            throw new ArgumentException($"{what} need one array of {largest:N0} elements, more than .NET's limit of {Array.MaxLength:N0}; " +
                                        $"at most {Array.MaxLength / largestArrayPerItem:N0} fit; lower {flag}");
        var bytes = (double)count * bytesPerItem;
        var available = AvailableBytes;
        if (bytes > available)
            throw new ArgumentException($"{what} need about {Format(bytes)} of memory; this process has {Format(available)} available, " +
                                        $"so at most about {available / bytesPerItem:N0} fit; lower {flag}");
    }

    /// <summary>Decimal units, named as such (GB = 10^9 bytes).</summary>
    public static string Format(double bytes) => bytes switch
    {
        >= 1e12 => $"{bytes / 1e12:F1} TB",
        >= 1e9 => $"{bytes / 1e9:F1} GB",
        >= 1e6 => $"{bytes / 1e6:F1} MB",
        _ => $"{bytes / 1e3:F1} kB",
    };
}
