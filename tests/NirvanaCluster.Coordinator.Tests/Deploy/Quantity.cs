using System.Globalization;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>Kubernetes resource quantities, as the kubelet turns them into numbers for resourceFieldRef.</summary>
public static class Quantity
{
    /// <summary>A memory quantity in bytes (binary Ki..Ti and decimal k..T suffixes).</summary>
    public static long Bytes(string quantity)
    {
        (string Suffix, long Factor)[] units = [("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000)];
        foreach (var (suffix, factor) in units)
            if (quantity.EndsWith(suffix, StringComparison.Ordinal)) return long.Parse(quantity[..^suffix.Length], CultureInfo.InvariantCulture) * factor;
        return long.Parse(quantity, CultureInfo.InvariantCulture);
    }

    /// <summary>A CPU quantity as resourceFieldRef gives it with the default divisor 1: whole cores, rounded up.</summary>
    public static long Cores(string quantity) =>
        quantity.EndsWith('m')
            ? (long.Parse(quantity[..^1], CultureInfo.InvariantCulture) + 999) / 1000
            : (long)Math.Ceiling(double.Parse(quantity, CultureInfo.InvariantCulture));
}
