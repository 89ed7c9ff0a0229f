namespace NirvanaCluster.Engine;

/// <summary>
/// The exit codes of both programs (`nirvana` and `nirvana-node`), defined once. Scripts and Kubernetes can tell a
/// mistake in the command (fix the flags, do not retry) from bad input files (fix the data) from a failure while
/// running (may be worth a retry).
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The work failed while running: a node lost, an I/O error, an internal error.</summary>
    public const int RuntimeFailure = 1;
    /// <summary>The command line is wrong: unknown flag, bad or missing value, flags that do not go together, an output that is refused.</summary>
    public const int UsageError = 2;
    /// <summary>An input file is wrong: a corrupt checkpoint or config, a config that disagrees with its weights, a bad calibration or task file.</summary>
    public const int InputError = 3;
    /// <summary>Stopped by Ctrl-C / SIGINT / SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}
