using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.GpuNode;

/// <summary>Parses memory sizes such as 512M, 6G, 4Gi or a plain byte count.</summary>
public static class ByteSize
{
    /// <summary>Bytes, or a number with K/M/G/T (powers of 1000) or Ki/Mi/Gi/Ti (powers of 1024); see <see cref="ByteSizes.Parse"/>.</summary>
    public static long Parse(string text, string flag) => ByteSizes.Parse(text, flag);

    /// <summary>80% of the memory this process may use (the cgroup limit in a container).</summary>
    public static long DefaultBudget() => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8);
}
