namespace NirvanaCluster.GpuNode;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("nirvana-node: not wired yet");
        return 2;
    }
}
