using System.CommandLine;
using NirvanaCluster.Engine;
using Serilog;
using Serilog.Events;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// What every command shares: Serilog to stderr (stdout carries only results), and one error policy: a failure
/// prints "nirvana: error: ..." to stderr and exits with one of <see cref="ExitCodes"/>, without a stack trace unless
/// --verbose, whatever the exception.
/// </summary>
public static class CliHost
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Debug logging and stack traces on errors", Recursive = true };
    public static readonly Option<bool> Quiet = new("--quiet", "-q") { Description = "Only warnings and errors on stderr", Recursive = true };

    public static void ConfigureLogging(bool verbose, bool quiet)
    {
        var level = verbose ? LogEventLevel.Debug : quiet ? LogEventLevel.Warning : LogEventLevel.Information;
        // A log line that carries an exception (an actor's failure, say) shows its stack trace only with -v.
        var template = verbose ? "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}" : "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}";
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Filter.With(new Clustering.Logging.RepeatedWarningFilter())
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose, outputTemplate: template)
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
            catch (Exception e)
            {
                return ReportFailure(e, verbose, cancellation.IsCancellationRequested);
            }
            finally
            {
                await Log.CloseAndFlushAsync();
            }
        });
    }

    public static void SetHandler(Command command, Func<ParseResult, int> body) =>
        SetHandler(command, (parse, _) => Task.FromResult(body(parse)));

    /// <summary>One line on stderr for any exception, the trace only with -v; returns the exit code of its class.</summary>
    public static int ReportFailure(Exception e, bool verbose, bool cancelled)
    {
        var (code, text) = Describe(e, verbose, cancelled);
        Console.Error.WriteLine(text);
        return code;
    }

    /// <summary>The exit code and the stderr text for a failure: one line, plus the trace only when verbose.</summary>
    public static (int Code, string Text) Describe(Exception e, bool verbose, bool cancelled)
    {
        if (e is OperationCanceledException && cancelled) return (ExitCodes.Cancelled, "nirvana: cancelled");
        var code = ExitCodeOf(e);
        var message = e switch
        {
            OutOfMemoryException => "out of memory: the job needs more than this machine has; lower --samples, --seq-len or --micro-batch, or use nodes",
            _ when code == ExitCodes.RuntimeFailure && !IsExpected(e) =>
                $"internal error ({e.GetType().Name}): {OneLine(e.Message)}{(verbose ? "" : " (run with -v for the stack trace)")}",
            _ => OneLine(e.Message),
        };
        var text = $"nirvana: error: {message}";
        return (code, verbose ? text + Environment.NewLine + e : text);
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    /// <summary>Usage for mistakes in the command, input for bad files, runtime for the rest.</summary>
    public static int ExitCodeOf(Exception e) => e switch
    {
        ArgumentException => ExitCodes.UsageError,
        Pruning.Pipeline.StageFailedException { InputError: true } => ExitCodes.InputError,
        InvalidDataException or FileNotFoundException or DirectoryNotFoundException => ExitCodes.InputError,
        _ => ExitCodes.RuntimeFailure,
    };

    /// <summary>Exceptions whose message is written for the user; any other type is a bug and says so.</summary>
    private static bool IsExpected(Exception e) =>
        e is IOException or UnauthorizedAccessException or InvalidOperationException or NotSupportedException
            or TimeoutException or Pruning.Pipeline.StageFailedException or OutOfMemoryException;

    /// <summary>Whether the user typed the option (not just its default), to refuse flags that a mode would ignore.</summary>
    public static bool IsGiven(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    /// <summary>Parse errors as every other usage error: one line per error on stderr, where to read, the usage exit code.</summary>
    public static int ReportParseErrors(ParseResult parse)
    {
        foreach (var error in parse.Errors)
            Console.Error.WriteLine($"nirvana: error: {error.Message}");
        var path = new List<string>();
        for (var c = parse.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            path.Insert(0, c.Command is RootCommand ? "nirvana" : c.Command.Name);
        Console.Error.WriteLine($"see `{string.Join(' ', path)} --help`");
        return ExitCodes.UsageError;
    }
}
