using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// Numeric flags of every command, parsed one way: invariant culture, no group separators, finite values only.
/// The default parser accepted "3,36" as 336 (a comma is a thousands separator to it) and "0,2" as 2; here a comma
/// is an error that says how to write the number.
/// </summary>
public static class NumberOption
{
    public static Option<double> Double(string name, string description, double? defaultValue = null, bool required = false) =>
        Make(name, description, required, defaultValue, text => ParseDouble(name, text));

    public static Option<float> Float(string name, string description, float? defaultValue = null) =>
        Make(name, description, false, defaultValue, text => ParseDouble(name, text) is { } d ? (float)d : null);

    public static Option<int> Int(string name, string description, int? defaultValue = null, bool required = false) =>
        Make(name, description, required, defaultValue, text => ParseInt(name, text));

    public static Option<int?> OptionalInt(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.CustomParser = result => One(result, name) is { } text && Check(result, () => ParseInt(name, text)) is int v ? v : null;
        return option;
    }

    /// <summary>A repeatable list of integers (e.g. --calibration-seeds 0 5 12).</summary>
    public static Option<int[]> Ints(string name, string description, bool allowMultipleArgumentsPerToken)
    {
        var option = new Option<int[]>(name) { Description = description, AllowMultipleArgumentsPerToken = allowMultipleArgumentsPerToken };
        option.CustomParser = result =>
        {
            var values = new List<int>();
            foreach (var token in result.Tokens)
                if (Check(result, () => ParseInt(name, token.Value)) is int v) values.Add(v);
                else return [];
            return values.ToArray();
        };
        return option;
    }

    /// <summary>Parses a number as the flags do; the message names the flag. Public for tests and other entry points.</summary>
    public static double? ParseDouble(string flag, string text)
    {
        RefuseSeparators(flag, text, integer: false);
        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out var value))
            throw new FormatException($"{flag}: '{text}' is not a number");
        if (!double.IsFinite(value)) throw new FormatException($"{flag}: '{text}' is not a finite number");
        return value;
    }

    public static int? ParseInt(string flag, string text)
    {
        RefuseSeparators(flag, text, integer: true);
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var wide))
            throw new FormatException($"{flag}: '{text}' is not a whole number");
        if (wide is < int.MinValue or > int.MaxValue) throw new FormatException($"{flag}: {text} is out of range (at most {int.MaxValue})");
        return (int)wide;
    }

    private static void RefuseSeparators(string flag, string text, bool integer)
    {
        if (text.Contains(','))
        {
            var suggestion = integer || text.Count(c => c == ',') > 1 || text.Contains('.') ? text.Replace(",", "") : text.Replace(',', '.');
            throw new FormatException($"{flag}: '{text}' has a comma; write numbers with a point for decimals and no group separators (e.g. {suggestion})");
        }
        if (text.Any(c => c is '_' or '\'' or ' ' or '\u00a0' or '\u202f'))
            throw new FormatException($"{flag}: '{text}' has a group separator; write the digits alone");
    }

    private static Option<T> Make<T>(string name, string description, bool required, T? defaultValue, Func<string, T?> parse) where T : struct
    {
        var option = new Option<T>(name) { Description = description, Required = required };
        if (defaultValue is { } d) option.DefaultValueFactory = _ => d;
        option.CustomParser = result => One(result, name) is { } text && Check(result, () => parse(text)) is { } v ? v : default;
        return option;
    }

    private static string? One(ArgumentResult result, string name)
    {
        if (result.Tokens.Count == 1) return result.Tokens[0].Value;
        result.AddError(result.Tokens.Count == 0 ? $"{name} needs a value" : $"{name} takes one value");
        return null;
    }

    private static T? Check<T>(ArgumentResult result, Func<T?> parse) where T : struct
    {
        try
        {
            return parse();
        }
        catch (FormatException e)
        {
            result.AddError(e.Message);
            return null;
        }
    }
}
