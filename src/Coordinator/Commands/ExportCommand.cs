using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Gguf;

namespace NirvanaCluster.Coordinator.Commands;

/// <summary><c>nirvana export --format gguf</c>: a model folder (dense or pruned) as one GGUF file for llama.cpp / Ollama / LM Studio.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model folder, dense or pruned (default: the embedded stories15M)" };
        var format = new Option<string>("--format") { Description = "Output format: gguf (llama.cpp's deci architecture, per-layer widths)", DefaultValueFactory = _ => "gguf" };
        var output = new Option<string>("--output") { Description = "The .gguf file to write (refused if it exists, unless --force)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = $"Type of the 2-D weights: {GgufDTypes.Choices} (norms stay F32; Q8_0 rows not a multiple of 32 stay F16)", DefaultValueFactory = _ => "f32" };
        var force = new Option<bool>("--force") { Description = "Replace an existing output file (only once the new one is complete)" };
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout" };
        var command = new Command("export", "Write a model as a GGUF file that llama.cpp (and Ollama, LM Studio) runs") { model, format, output, dtype, force, json };
        CliHost.SetHandler(command, parse =>
        {
            var kind = parse.GetValue(format)!.ToLowerInvariant();
            if (kind != "gguf") throw new ArgumentException($"--format: unknown value '{kind}', expected gguf");
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var summary = GgufExporter.Export(dir, parse.GetValue(output)!, new GgufExportOptions
            {
                DType = GgufDTypes.Parse(parse.GetValue(dtype)!),
                Force = parse.GetValue(force),
            });
            Console.Out.WriteLine(GgufSummaryText.Describe(summary, dir));
            if (parse.GetValue(json)) JsonOutput.WriteLine(GgufSummaryText.Json(summary, dir));
            return 0;
        });
        return command;
    }
}
