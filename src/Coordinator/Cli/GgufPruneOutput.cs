using System.CommandLine;
using NirvanaCluster.Engine.Gguf;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary><c>prune --gguf [DTYPE]</c>: also write <c>model.gguf</c> into the output folder, with the rest of it.</summary>
public static class GgufPruneOutput
{
    public const string DefaultDType = "f16";

    public static Option<string?> Flag() => new("--gguf")
    {
        Description = $"Also write model.gguf (llama.cpp) into the output folder; DTYPE {GgufDTypes.Choices}, default {DefaultDType}",
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "DTYPE",
    };

    /// <summary>Null when the flag is absent; its type (default f16) when given.</summary>
    public static GgufDType? Read(ParseResult parse, Option<string?> flag) =>
        parse.GetResult(flag) is null ? null : GgufDTypes.Parse(parse.GetValue(flag) ?? DefaultDType, "--gguf");

    /// <summary>Runs <paramref name="writeCheckpoint"/> on the output folder itself, or, with a GGUF type, through
    /// <see cref="GgufBesideCheckpoint"/> so the checkpoint and its model.gguf appear together.</summary>
    public static void Write(string outputDir, bool force, GgufDType? gguf, Action<string> writeCheckpoint)
    {
        if (gguf is not { } dtype)
        {
            writeCheckpoint(outputDir);
            return;
        }
        var summary = GgufBesideCheckpoint.Write(outputDir, force, dtype, writeCheckpoint);
        Console.Out.WriteLine(GgufSummaryText.Describe(summary, outputDir));
    }
}
