using System.Globalization;

namespace NirvanaCluster.Benchmarks.Transfer;

/// <summary>Command-line settings of the transfer benchmark, validated with messages naming the flag.</summary>
internal sealed record TransferOptions(int TotalMib, int MessageMib, int ChunkKib, int Rounds, bool Json)
{
    public const string Usage = "usage: transfer [--total-mib 256] [--message-mib 64] [--chunk-kib 4096] [--rounds 5] [--json]";

    public static TransferOptions Parse(string[] args)
    {
        // 4 MiB chunks: what the data plane sends by default (TcpDataLink.DefaultChunkSize).
        int total = 256, message = 64, chunk = 4096, rounds = 5;
        var json = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--total-mib": total = Positive(args, ++i, "--total-mib"); break;
                case "--message-mib": message = Positive(args, ++i, "--message-mib"); break;
                case "--chunk-kib": chunk = Positive(args, ++i, "--chunk-kib"); break;
                case "--rounds": rounds = Positive(args, ++i, "--rounds"); break;
                case "--json": json = true; break;
                case "transfer" or "transfer-peer": break; // the subcommand itself, if passed along
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }
        if (message > total) throw new ArgumentException($"--message-mib ({message}) must not exceed --total-mib ({total})");
        if (chunk < 4 || chunk > 16 * 1024) throw new ArgumentException($"--chunk-kib ({chunk}) must be between 4 and 16384");
        return new TransferOptions(total, message, chunk, rounds, json);
    }

    public IEnumerable<string> ToArgs() =>
        ["--total-mib", Str(TotalMib), "--message-mib", Str(MessageMib), "--chunk-kib", Str(ChunkKib), "--rounds", Str(Rounds)];

    private static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static int Positive(string[] args, int index, string flag)
    {
        if (index >= args.Length || !int.TryParse(args[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
            throw new ArgumentException($"{flag} needs a positive integer");
        return value;
    }
}
