namespace NirvanaCluster.GpuNode;

/// <summary>Forwards to <see cref="Engine.ByteSize"/>, which both programs share (it accepts GB and GiB and says which is which).</summary>
public static class ByteSize
{
    public static long Parse(string text, string flag) => Engine.ByteSize.Parse(text, flag);

    public static long DefaultBudget() => Engine.ByteSize.DefaultBudget();
}
