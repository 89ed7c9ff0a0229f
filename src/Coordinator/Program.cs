using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Commands;

namespace NirvanaCluster.Coordinator;

public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("nirvana: structured pruning of Llama-family models with NIRVANA, on one machine or a cluster")
        {
            PerplexityCommand.Create(),
            GenerateCommand.Create(),
            TokenizeCommand.Create(),
            PruneCommand.Create(),
            EvaluateCommand.Create(),
            AssetsCommand.Create(),
            SampleCommand.Create(),
            ExportCommand.Create(),
        };
        root.Options.Add(CliHost.Verbose);
        root.Options.Add(CliHost.Quiet);
        return root;
    }
}
