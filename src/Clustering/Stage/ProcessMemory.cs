namespace NirvanaCluster.Clustering.Stage;

/// <summary>The process's peak resident memory as the kernel counts it (VmHWM), so budgets are checked against reality.</summary>
public static class ProcessMemory
{
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return Environment.WorkingSet;
    }
}
