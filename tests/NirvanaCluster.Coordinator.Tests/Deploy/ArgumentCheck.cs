namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// Reads a container's argument list the way the program's parser will: every "--flag" must be one the program
/// lists, a flag that takes a value is followed by one, a switch is not, and nothing is left over.
/// </summary>
public static class ArgumentCheck
{
    public static IReadOnlyList<string> Problems(IReadOnlyList<string> args, ProgramHelp help)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                problems.Add($"argument {i} '{arg}' is neither a flag nor the value of one");
                continue;
            }
            var name = arg.Split('=', 2)[0];
            if (!help.Options.TryGetValue(name, out var option))
            {
                problems.Add($"{name} is not an option of the program (its --help lists {string.Join(' ', help.Options.Keys.Order())})");
                if (!arg.Contains('=') && i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) i++;  // its value, most likely
                continue;
            }
            seen.Add(name);
            if (arg.Contains('='))
            {
                if (!option.TakesValue) problems.Add($"{name} is a switch but is given a value");
                continue;
            }
            if (!option.TakesValue) continue;
            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                problems.Add($"{name} takes a value but none follows it");
            else
                i++;
        }
        problems.AddRange(help.Options.Values.Where(o => o.Required && !seen.Contains(o.Name)).Select(o => $"required option {o.Name} is not passed"));
        return problems;
    }
}
