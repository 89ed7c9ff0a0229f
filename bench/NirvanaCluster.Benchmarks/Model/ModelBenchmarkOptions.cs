namespace NirvanaCluster.Benchmarks.Model;

/// <summary>Options of the <c>model</c> benchmark; <see cref="Parse"/> throws <see cref="ArgumentException"/> naming the flag.</summary>
public sealed record ModelBenchmarkOptions(int Batch, int Positions, int Repetitions, IReadOnlyList<string> Backends)
{
    public const string Usage = "Options: --batch B (default 4), --seq T (default 128), --reps N (default 5), --backends openblas,managed.";

    public static ModelBenchmarkOptions Parse(string[] args)
    {
        int batch = 4, positions = 128, repetitions = 5;
        IReadOnlyList<string> backends = ["openblas", "managed"];
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--batch":
                    batch = PositiveInt(args, ref i);
                    break;
                case "--seq":
                    positions = PositiveInt(args, ref i);
                    break;
                case "--reps":
                    repetitions = PositiveInt(args, ref i);
                    break;
                case "--backends":
                    backends = NextValue(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (backends.Count == 0) throw new ArgumentException("--backends expects names separated by commas (openblas, managed, naive)");
                    break;
                default:
                    throw new ArgumentException($"Unknown model option '{args[i]}'.");
            }
        }
        return new ModelBenchmarkOptions(batch, positions, repetitions, backends);
    }

    private static int PositiveInt(string[] args, ref int i)
    {
        var flag = args[i];
        var text = NextValue(args, ref i);
        return int.TryParse(text, out var value) && value > 0 ? value : throw new ArgumentException($"{flag} expects a positive integer, got '{text}'.");
    }

    private static string NextValue(string[] args, ref int i)
        => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} expects a value.");
}
