namespace NirvanaCluster.Coordinator;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("nirvana: commands are not wired yet");
        return 2;
    }
}
