using System.CommandLine;
using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using NirvanaCluster.Coordinator.Cli;

namespace NirvanaCluster.Coordinator.Tests.BadInput;

/// <summary>Class 3 (silent misreads): numbers are read invariantly and a group separator is an error, for every numeric flag.</summary>
public class NumberParsingTests
{
    private static readonly Type[] NumericTypes = [typeof(int), typeof(int?), typeof(double), typeof(float), typeof(int[]), typeof(double[])];

    /// <summary>Every numeric flag of every command, found by walking the real command tree (so a new flag is covered too).</summary>
    public static TheoryData<string, string> NumericFlags()
    {
        var data = new TheoryData<string, string>();
        foreach (var command in Program.BuildRoot().Subcommands)
            foreach (var option in command.Options.Where(o => NumericTypes.Contains(o.ValueType) || o.Name == "--gamma")) // --gamma: numbers or 'auto'
                data.Add(command.Name, option.Name);
        return data;
    }

    [Fact]
    public void The_sweep_covers_the_flags_the_issue_names()
    {
        var flags = NumericFlags().Select(row => $"{row[0]} {row[1]}").ToArray();
        Assert.Contains("prune --gamma", flags);
        Assert.Contains("prune --sparsity", flags);
        Assert.Contains("prune --nodes", flags);
        Assert.Contains("evaluate --generated", flags);
        Assert.Contains("generate --temperature", flags);
        Assert.True(flags.Length >= 20, $"only {flags.Length} numeric flags found");
    }

    [Theory]
    [MemberData(nameof(NumericFlags))]
    public void A_comma_is_refused_naming_the_flag(string command, string flag)
    {
        foreach (var value in new[] { "3,36", "0,2", "1,000" })
        {
            var parse = Program.BuildRoot().Parse([command, flag, value]);
            var error = Assert.Single(parse.Errors, e => e.Message.StartsWith(flag + ":", StringComparison.Ordinal));
            Assert.Contains("has a comma", error.Message);
        }
        var nan = Program.BuildRoot().Parse([command, flag, "NaN"]);
        Assert.Contains(nan.Errors, e => e.Message.StartsWith(flag + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Gamma_3_36_with_a_comma_is_a_usage_error_on_the_command_line()
    {
        var r = CliRunner.Run("prune", "--sparsity", "0.2", "--gamma", "3,36", "--output", "/nonexistent/never");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var lines = r.Stderr.TrimEnd().Split('\n');
        Assert.Equal("nirvana: error: --gamma: '3,36' has a comma; write numbers with a point for decimals and no group separators (e.g. 3.36)", lines[0]);
        Assert.Equal("see `nirvana prune --help`", lines[^1]);
    }

    [Fact]
    public void Accepted_text_always_means_the_invariant_number_and_never_holds_a_separator()
    {
        // Any string made of digits, signs, points, commas, exponents and spaces: either refused, or read exactly as
        // the invariant culture reads a plain number (never 336 for "3,36").
        var chars = Gen.Elements("0123456789+-.,eE _".ToCharArray());
        var text = chars.ArrayOf().Select(c => new string(c)).Where(s => s.Length is > 0 and < 12);
        Prop.ForAll(text.ToArbitrary(), s =>
        {
            double? value;
            try { value = NumberOption.ParseDouble("--x", s); }
            catch (FormatException) { value = null; }
            if (value is null) return true.Label("refused");
            var plain = double.Parse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture);
            return (!s.Contains(',') && !s.Contains(' ') && value == plain).Label($"'{s}' read as {value}");
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void Every_finite_double_round_trips_and_its_grouped_form_is_refused()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<double>().Filter(double.IsFinite), d =>
        {
            var roundTrip = NumberOption.ParseDouble("--x", d.ToString("R", CultureInfo.InvariantCulture)) == d;
            var grouped = Math.Abs(d) >= 1000 ? d.ToString("N2", CultureInfo.InvariantCulture) : null; // "1,234.50"
            var refused = grouped is null || Assert.Throws<FormatException>(() => NumberOption.ParseDouble("--x", grouped)).Message.Contains("comma");
            return roundTrip && refused;
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(500));
        Assert.Equal(int.MaxValue, NumberOption.ParseInt("--samples", "2147483647"));
        Assert.Contains("out of range", Assert.Throws<FormatException>(() => NumberOption.ParseInt("--samples", "2147483648")).Message);
    }
}
