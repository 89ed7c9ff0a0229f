using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Pruning.Calibration;

namespace NirvanaCluster.Coordinator.Commands;

public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: stories15M, downloaded and converted on first use)" };
        var prompt = new Option<string>("--prompt") { Description = "Text to continue", Required = true };
        var maxNew = NumberOption.Int("--max-new-tokens", "Tokens to generate", 64);
        var temperature = NumberOption.Float("--temperature", "0 = greedy; otherwise sample from softmax(logits / T)", 0f);
        var seed = NumberOption.Int("--seed", "Sampling seed", 0);
        var command = new Command("generate", "Continue a prompt, printing tokens as they come") { model, prompt, maxNew, temperature, seed };
        CliHost.SetHandler(command, parse =>
        {
            var n = parse.GetValue(maxNew);
            if (n <= 0) throw new ArgumentException($"--max-new-tokens must be positive (got {n})");
            var t = parse.GetValue(temperature);
            if (t < 0 || float.IsNaN(t)) throw new ArgumentException($"--temperature must be >= 0 (got {t})");
            if (t == 0 && CliHost.IsGiven(parse, seed)) Serilog.Log.Warning("--seed has no effect at --temperature 0 (greedy decoding draws nothing)");
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var shard = ShardLoader.LoadAll(dir);
            var tokenizer = ModelTokenizer.Load(dir, shard.Config);
            var ids = tokenizer.Encode(parse.GetValue(prompt)!, tokenizer.AddBosByDefault);
            if (ids.Length == 0) throw new ArgumentException("--prompt encodes to no tokens and the tokenizer has no BOS to start from");
            SequenceLimit.Check(ids.Length + n, shard.Config, $"--prompt ({ids.Length} tokens) plus --max-new-tokens {n}");
            var decoder = new StreamingDecoder(tokenizer, ids);
            Console.Out.Write(parse.GetValue(prompt));
            Generator.Generate(shard, [ids], n, t, parse.GetValue(seed), (_, token) =>
            {
                Console.Out.Write(decoder.Push(token));
                Console.Out.Flush();
            }, stopToken: tokenizer.EosTokenId);
            Console.Out.WriteLine(decoder.Flush());
            return 0;
        });
        return command;
    }
}
