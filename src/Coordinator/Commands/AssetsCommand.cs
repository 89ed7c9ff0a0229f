using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Assets;

namespace NirvanaCluster.Coordinator.Commands;

public static class AssetsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout" };
        var command = new Command("assets", "Fetch (once, into the cache) and verify the default model and evaluation texts; print their paths") { json };
        CliHost.SetHandler(command, parse =>
        {
            var model = DefaultModel.Ensure();
            var mobyDick = DefaultTexts.MobyDick();
            Console.Out.WriteLine($"default model  {model}");
            Console.Out.WriteLine($"moby-dick text {mobyDick}");
            if (parse.GetValue(json)) JsonOutput.WriteLine(new { model, moby_dick = mobyDick, cache = NpmPackageCache.CacheRoot });
            return 0;
        });
        return command;
    }
}
