using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Assets;

namespace NirvanaCluster.Coordinator.Commands;

public static class AssetsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout" };
        var command = new Command("assets", "Fetch (once, into the cache) the default model and evaluation texts, verify the SHA-256 of the package and of every converted file (converting again on a mismatch); print their paths") { json };
        CliHost.SetHandler(command, parse =>
        {
            var model = DefaultModel.EnsureVerified();
            var mobyDick = DefaultTexts.MobyDick();
            Console.Out.WriteLine($"default model  {model} (sha256 of every file verified against {DefaultModel.ChecksumsFileName})");
            Console.Out.WriteLine($"moby-dick text {mobyDick}");
            if (parse.GetValue(json)) JsonOutput.WriteLine(new { model, moby_dick = mobyDick, cache = NpmPackageCache.CacheRoot });
            return 0;
        });
        return command;
    }
}
