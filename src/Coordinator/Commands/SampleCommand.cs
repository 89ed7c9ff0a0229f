using System.CommandLine;
using System.Text.Json;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning.Calibration;

namespace NirvanaCluster.Coordinator.Commands;

public static class SampleCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: the embedded stories15M)" };
        var samples = new Option<int>("--samples") { Description = "Number of sequences N", DefaultValueFactory = _ => 32 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence T (BOS included)", DefaultValueFactory = _ => 128 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--output") { Description = "JSON token file to write (array of arrays)", Required = true };
        var command = new Command("sample", "Draw N sequences of T tokens from a model at temperature 1 into a token file (calibration or held-out data)")
        {
            model, samples, seqLen, seed, output,
        };
        CliHost.SetHandler(command, parse =>
        {
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var shard = ShardLoader.LoadAll(dir);
            var bos = shard.Config.BosTokenId ?? throw new ArgumentException($"{dir}/config.json has no bos_token_id to start samples from");
            var n = parse.GetValue(samples);
            var t = parse.GetValue(seqLen);
            int[][] rows;
            using (var progress = new ProgressLine("sampling"))
                rows = TokenSequences.Generated(shard, n, t, parse.GetValue(seed), bos, progress.Items(t - 1, n));
            var path = parse.GetValue(output)!;
            var temp = path + ".partial";
            File.WriteAllText(temp, JsonSerializer.Serialize(rows));
            File.Move(temp, path, overwrite: true);
            Console.Out.WriteLine($"wrote {n} x {t} tokens to {path}");
            return 0;
        });
        return command;
    }
}
