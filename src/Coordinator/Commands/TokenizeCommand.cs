using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Tokenizers;

namespace NirvanaCluster.Coordinator.Commands;

public static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder holding tokenizer.json or tokenizer.bin (default: stories15M, downloaded and converted on first use)" };
        var text = new Option<string>("--text") { Description = "Text to encode, or with --decode token ids (space- or comma-separated)", Required = true };
        var decode = new Option<bool>("--decode") { Description = "Decode ids to text instead" };
        var bos = new Option<bool?>("--bos") { Description = "Prepend BOS (default: the tokenizer's own setting)" };
        var command = new Command("tokenize", "Text to token ids (or back with --decode)") { model, text, decode, bos };
        CliHost.SetHandler(command, parse =>
        {
            var tokenizer = TokenizerLoader.Load(ModelLocator.Resolve(parse.GetValue(model)));
            var input = parse.GetValue(text)!;
            if (parse.GetValue(decode))
            {
                var ids = input.Split([' ', ',', '\t', '\n', '[', ']'], StringSplitOptions.RemoveEmptyEntries).Select((s, i) =>
                    int.TryParse(s, out var id) && id >= 0 && id < tokenizer.VocabSize ? id
                        : throw new ArgumentException($"--text: item {i} '{s}' is not a token id in [0, {tokenizer.VocabSize})")).ToArray();
                Console.Out.WriteLine(tokenizer.Decode(ids));
            }
            else
                Console.Out.WriteLine(string.Join(' ', tokenizer.Encode(input, parse.GetValue(bos) ?? tokenizer.AddBosByDefault)));
            return 0;
        });
        return command;
    }
}
