using System.CommandLine;
using Serilog;
using Serilog.Events;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// What every command shares: Serilog to stderr (stdout carries only results), and one error policy: a failure
/// prints "nirvana: error: ..." to stderr and exits non-zero, without a stack trace unless --verbose.
/// </summary>
public static class CliHost
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Debug logging and stack traces on errors", Recursive = true };
    public static readonly Option<bool> Quiet = new("--quiet", "-q") { Description = "Only warnings and errors on stderr", Recursive = true };

    public static void ConfigureLogging(bool verbose, bool quiet)
    {
        var level = verbose ? LogEventLevel.Debug : quiet ? LogEventLevel.Warning : LogEventLevel.Information;
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
    }

    /// <summary>Wraps a command body with logging set-up and the error policy.</summary>
    public static void SetHandler(Command command, Func<ParseResult, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parse, cancellation) =>
        {
            var verbose = parse.GetValue(Verbose);
            ConfigureLogging(verbose, parse.GetValue(Quiet));
            try
            {
                return await body(parse, cancellation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                Console.Error.WriteLine("nirvana: cancelled");
                return 130;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or InvalidOperationException
                                          or UnauthorizedAccessException or NotSupportedException or Pruning.Pipeline.StageFailedException
                                          or TimeoutException)
            {
                Console.Error.WriteLine($"nirvana: error: {e.Message}");
                if (verbose) Console.Error.WriteLine(e);
                return e is ArgumentException ? 2 : 1;
            }
            finally
            {
                await Log.CloseAndFlushAsync();
            }
        });
    }

    public static void SetHandler(Command command, Func<ParseResult, int> body) =>
        SetHandler(command, (parse, _) => Task.FromResult(body(parse)));
}
