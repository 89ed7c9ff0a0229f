using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Pruning.Calibration;
using NirvanaCluster.Pruning.Evaluation;
using Serilog;

namespace NirvanaCluster.Coordinator.Commands;

public static class PerplexityCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder (default: stories15M, downloaded and converted on first use)" };
        var tokens = new Option<string?>("--tokens") { Description = "JSON file: an array of arrays of token ids; each row is scored as its own sequence" };
        var text = new Option<string?>("--text") { Description = "Text file (or JSONL with a \"text\" field): tokenized once, cut into non-overlapping chunks" };
        var seqLen = NumberOption.Int("--seq-len", "Chunk length in tokens for --text (not used with --tokens)", 128);
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout" };
        var command = new Command("perplexity", "Perplexity = exp(mean next-token NLL over every predicted token)") { model, tokens, text, seqLen, json };
        CliHost.SetHandler(command, parse =>
        {
            var tokensPath = parse.GetValue(tokens);
            var textPath = parse.GetValue(text);
            if ((tokensPath is null) == (textPath is null)) throw new ArgumentException("give exactly one of --tokens FILE or --text FILE");
            if (tokensPath is not null && CliHost.IsGiven(parse, seqLen))
                throw new ArgumentException("--seq-len cuts --text into chunks; --tokens rows are scored as they are, so it does not apply");
            if (tokensPath is not null) InputFile.Require(tokensPath, "--tokens");
            if (textPath is not null) InputFile.Require(textPath, "--text");
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var shard = ShardLoader.LoadAll(dir);
            if (textPath is not null) SequenceLimit.Check(parse.GetValue(seqLen), shard.Config, "--seq-len");
            var sequences = tokensPath is not null
                ? TokenSequences.FromTokenFile(tokensPath, shard.Vocab, equalLength: false)
                : TokenSequences.Chunks(TokenSequences.ReadText(textPath!), ModelTokenizer.Load(dir, shard.Config), parse.GetValue(seqLen), textPath!);
            if (tokensPath is not null) SequenceLimit.CheckRows(sequences, shard.Config, tokensPath);
            Log.Information("Scoring {Sequences} sequences from {Source}", sequences.Length, tokensPath ?? textPath);
            PerplexityResult result;
            using (var progress = new ProgressLine("perplexity"))
                result = Perplexity.Evaluate(shard, sequences, progress: progress.Items(sequences.Length, sequences[0].Length));
            Console.Out.WriteLine($"perplexity {result.Perplexity:F4} over {result.Tokens:N0} predicted tokens in {result.Sequences} sequences (mean NLL {result.MeanNll:F5})");
            if (parse.GetValue(json))
                JsonOutput.WriteLine(new { perplexity = result.Perplexity, tokens = result.Tokens, sequences = result.Sequences, mean_nll = result.MeanNll, model = dir });
            return 0;
        });
        return command;
    }
}
