using System.Text.RegularExpressions;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>The options a program lists in its --help (System.CommandLine's layout), with whether each takes a value.</summary>
public sealed partial class ProgramHelp
{
    public sealed record Option(string Name, bool TakesValue, bool Required);

    public IReadOnlyDictionary<string, Option> Options { get; }

    private ProgramHelp(IReadOnlyDictionary<string, Option> options) => Options = options;

    private static readonly Lazy<ProgramHelp> prune = new(() => FromProgram("nirvana.dll", "prune", "--help"));
    private static readonly Lazy<ProgramHelp> node = new(() => FromProgram("nirvana-node.dll", "--help"));

    /// <summary>`nirvana prune --help`, run once per test run.</summary>
    public static ProgramHelp Prune => prune.Value;

    /// <summary>`nirvana-node --help`, run once per test run.</summary>
    public static ProgramHelp Node => node.Value;

    private static ProgramHelp FromProgram(string dll, params string[] args)
    {
        var result = CliRunner.RunProgram(dll, args, timeoutSeconds: 60);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"{dll} {string.Join(' ', args)} exited {result.ExitCode}, expected 0; stderr: {result.Stderr.Trim()}");
        return Parse(result.Stdout);
    }

    /// <summary>
    /// Reads option lines such as "  --sparsity &lt;sparsity&gt; (REQUIRED)  Fraction ..." or "  -v, --verbose  Debug ...":
    /// the names and value placeholder come before the first run of two spaces.
    /// </summary>
    public static ProgramHelp Parse(string helpText)
    {
        var options = new Dictionary<string, Option>();
        foreach (var line in helpText.Split('\n'))
        {
            var match = OptionLine().Match(line.TrimEnd('\r'));
            if (!match.Success) continue;
            var head = match.Groups["head"].Value;
            var takesValue = head.Contains('<');
            var required = head.Contains("(REQUIRED)");
            foreach (Match name in LongName().Matches(head.Split('<')[0]))
                options[name.Value] = new Option(name.Value, takesValue, required);
        }
        return new ProgramHelp(options);
    }

    [GeneratedRegex(@"^\s{2,}(?<head>-\S.*?)(?:\s{2,}|$)")]
    private static partial Regex OptionLine();

    [GeneratedRegex(@"--[A-Za-z0-9][A-Za-z0-9-]*")]
    private static partial Regex LongName();
}
