using System.CommandLine;
using System.CommandLine.Help;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Commands;

namespace NirvanaCluster.Coordinator;

public static class Program
{
    public static int Main(string[] args)
    {
        var parse = BuildRoot().Parse(args);
        // Parse errors (unknown flag, bad number, missing required flag) follow the one error convention instead of
        // System.CommandLine's default (the message, then the whole help on stdout); --help still wins.
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction) return CliHost.ReportParseErrors(parse);
        return parse.Invoke();
    }

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
