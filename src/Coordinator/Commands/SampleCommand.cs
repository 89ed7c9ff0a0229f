using System.CommandLine;
using System.Text.Json;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Pruning.Calibration;

namespace NirvanaCluster.Coordinator.Commands;

public static class SampleCommand
{
    private const string TokenFileKind = "a JSON token file (an array of arrays of token ids)";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: stories15M, downloaded on first use)" };
        var samples = NumberOption.Int("--samples", "Number of sequences N", 32);
        var seqLen = NumberOption.Int("--seq-len", "Tokens per sequence T (BOS included)", 128);
        var seed = NumberOption.Int("--seed", "Sampling seed", 0);
        var output = new Option<string>("--output") { Description = "JSON token file to write (array of arrays); refused if it exists, unless --force", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace an existing token file (never any other kind of file)" };
        var command = new Command("sample", "Draw N sequences of T tokens from a model at temperature 1 into a token file (calibration or held-out data)")
        {
            model, samples, seqLen, seed, output, force,
        };
        CliHost.SetHandler(command, parse =>
        {
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var path = parse.GetValue(output)!;
            // Before sampling: never into the model, never over a file that is not a token file.
            OutputGuard.CheckFile(path, parse.GetValue(force), [dir], TokenSequences.IsTokenFile, TokenFileKind);
            using var checkpoint = Checkpoint.Open(dir);
            var config = checkpoint.Config;
            var bos = config.BosTokenId ?? throw new ArgumentException($"{dir}/config.json has no bos_token_id to start samples from");
            var n = parse.GetValue(samples);
            var t = parse.GetValue(seqLen);
            if (n <= 0) throw new ArgumentException($"--samples must be positive (got {n})");
            if (t < 2) throw new ArgumentException($"--seq-len must be at least 2 (got {t})");
            SequenceLimit.Check(t, config, "--seq-len");
            MemoryEstimate.CheckGenerated(config, n, t, "--samples");
            var shard = ShardLoader.LoadAll(checkpoint);
            int[][] rows;
            using (var progress = new ProgressLine("sampling"))
                rows = TokenSequences.Generated(shard, n, t, parse.GetValue(seed), bos, progress.Items(t - 1, n));
            AtomicFile.Write(path, parse.GetValue(force), [dir], TokenSequences.IsTokenFile, TokenFileKind,
                temp => File.WriteAllText(temp, JsonSerializer.Serialize(rows)));
            Console.Out.WriteLine($"wrote {n} x {t} tokens to {path}");
            return 0;
        });
        return command;
    }
}
