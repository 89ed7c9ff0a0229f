using System.Diagnostics;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Benchmarks.Checkpoints;

/// <summary>
/// <c>make-checkpoint --output DIR [--hidden 1024 --layers 8 --heads 16 --kv-heads 8 --ffn 2816 --vocab 8000 --seed 1 --force]</c>:
/// writes a seeded random Llama checkpoint folder (config.json + safetensors, untied lm_head), the input of the
/// cluster pruning benchmark, where a model larger than stories15M makes the pipeline's compute dominate.
/// </summary>
public static class MakeCheckpointCommand
{
    public const string Usage = "Options: --output DIR (required), --hidden D (1024), --layers L (8), --heads H (16), --kv-heads Hkv (8), " +
        "--ffn F (2816), --vocab V (8000), --seed K (1), --dtype f32|bf16|f16 (f32), --tied (lm_head shares the embedding), --force (replace DIR).";

    private sealed record Options(string Output, LlamaConfig Config, int Seed, bool Force, DType DType);

    public static int Run(string[] args)
    {
        Options options;
        try
        {
            options = Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException)
        {
            Console.Error.WriteLine($"make-checkpoint: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var clock = Stopwatch.StartNew();
        var model = RandomWeights.Create(options.Config, options.Seed, std: 0.02f, storage: options.DType); // held as written: a 3B model in BF16 is 6 GB
        try
        {
            CheckpointWriter.Write(options.Output, options.Config,
                model.Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)),
                new CheckpointWriteOptions { Force = options.Force, DType = options.DType });
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"make-checkpoint: {e.Message}");
            return 1;
        }
        var c = options.Config;
        Console.WriteLine($"wrote {Path.GetFullPath(options.Output)}: {model.ParameterCount:N0} parameters (D {c.HiddenSize}, L {c.NumHiddenLayers}, " +
            $"H {c.NumAttentionHeads}, Hkv {c.NumKeyValueHeads}, F {c.IntermediateSize}, V {c.VocabSize}{(c.TieWordEmbeddings ? ", tied" : "")}, {options.DType.SafeTensorsName()}, seed {options.Seed}), {clock.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    private static Options Parse(string[] args)
    {
        string? output = null;
        int hidden = 1024, layers = 8, heads = 16, kvHeads = 8, ffn = 2816, vocab = 8000, seed = 1;
        var force = false;
        var tied = false;
        var dtype = DType.F32;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--output": output = NextValue(args, ref i); break;
                case "--hidden": hidden = PositiveInt(args, ref i); break;
                case "--layers": layers = PositiveInt(args, ref i); break;
                case "--heads": heads = PositiveInt(args, ref i); break;
                case "--kv-heads": kvHeads = PositiveInt(args, ref i); break;
                case "--ffn": ffn = PositiveInt(args, ref i); break;
                case "--vocab": vocab = PositiveInt(args, ref i); break;
                case "--seed": seed = NonNegativeInt(args, ref i); break;
                case "--force": force = true; break;
                case "--tied": tied = true; break;
                case "--dtype":
                    var text = NextValue(args, ref i);
                    dtype = text.ToLowerInvariant() switch
                    {
                        "f32" => DType.F32, "bf16" => DType.BF16, "f16" => DType.F16,
                        _ => throw new ArgumentException($"--dtype expects f32, bf16 or f16, got '{text}'"),
                    };
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (output is null) throw new ArgumentException("--output DIR is required");
        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            IntermediateSize = ffn,
            VocabSize = vocab,
            TieWordEmbeddings = tied,
            BosTokenId = 1,
            EosTokenId = 2,
        }.Validated("make-checkpoint options");
        return new Options(output, config, seed, force, dtype);
    }

    private static int PositiveInt(string[] args, ref int i)
    {
        var flag = args[i];
        var text = NextValue(args, ref i);
        return int.TryParse(text, out var value) && value > 0 ? value : throw new ArgumentException($"{flag} expects a positive integer, got '{text}'");
    }

    private static int NonNegativeInt(string[] args, ref int i)
    {
        var flag = args[i];
        var text = NextValue(args, ref i);
        return int.TryParse(text, out var value) && value >= 0 ? value : throw new ArgumentException($"{flag} expects a non-negative integer, got '{text}'");
    }

    private static string NextValue(string[] args, ref int i)
        => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} expects a value");
}
