using System.Globalization;
using NirvanaCluster.Actors.Remoting;

namespace NirvanaCluster.Benchmarks.Transfer;

/// <summary>Command-line settings of the transfer benchmark, validated with messages naming the flag.</summary>
internal sealed record TransferOptions(int TotalMib, int MessageMib, int ChunkKib, int Rounds, bool InProcess, RemotingListener Listener)
{
    public const string Usage = "usage: transfer [--total-mib 256] [--message-mib 64] [--chunk-kib 1024] [--rounds 5] [--in-process] [--listener sockets|kestrel]";

    public static TransferOptions Parse(string[] args)
    {
        int total = 256, message = 64, chunk = 1024, rounds = 5;
        var inProcess = false;
        var listener = RemotingListener.Sockets;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--total-mib": total = Positive(args, ++i, "--total-mib"); break;
                case "--message-mib": message = Positive(args, ++i, "--message-mib"); break;
                case "--chunk-kib": chunk = Positive(args, ++i, "--chunk-kib"); break;
                case "--rounds": rounds = Positive(args, ++i, "--rounds"); break;
                case "--in-process": inProcess = true; break;
                case "--listener":
                    listener = ++i < args.Length && Enum.TryParse<RemotingListener>(args[i], ignoreCase: true, out var parsed)
                        ? parsed
                        : throw new ArgumentException("--listener needs 'sockets' or 'kestrel'");
                    break;
                case "transfer" or "transfer-peer": break; // the subcommand itself, if passed along
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }
        if (message > total)
            throw new ArgumentException($"--message-mib ({message}) must not exceed --total-mib ({total})");
        if (message > 1024)
            throw new ArgumentException($"--message-mib ({message}) must be at most 1024: a single tensor is limited to 2 GiB");
        if (chunk < 4)
            throw new ArgumentException($"--chunk-kib ({chunk}) must be at least 4");
        return new TransferOptions(total, message, chunk, rounds, inProcess, listener);
    }

    private static int Positive(string[] args, int index, string flag)
    {
        if (index >= args.Length || !int.TryParse(args[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
            throw new ArgumentException($"{flag} needs a positive integer");
        return value;
    }
}
