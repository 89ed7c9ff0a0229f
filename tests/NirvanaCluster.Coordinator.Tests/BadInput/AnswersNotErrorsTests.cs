using System.Text.Json;
using System.Text.RegularExpressions;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine;

namespace NirvanaCluster.Coordinator.Tests.BadInput;

/// <summary>Classes 5 and 8: refusals that say what is possible, no stack traces, and the documented conventions.</summary>
public class AnswersNotErrorsTests
{
    [Fact]
    public void The_largest_sparsity_the_refusal_names_is_accepted_and_a_little_more_is_not()
    {
        using var tiny = new TinyModel(layers: 2);
        var refused = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", "0.999", "--output", tiny.PathIn("a"));
        Assert.Equal(ExitCodes.UsageError, refused.ExitCode);
        var largest = Regex.Match(refused.Stderr, @"the largest possible sparsity is ([0-9.]+)").Groups[1].Value;
        Assert.NotEqual("", largest);
        Assert.DoesNotContain("smallest of", refused.Stderr); // not the old internal error after the calibration pass
        Assert.DoesNotContain("calibration:", refused.Stderr); // refused before the pass

        // The answer is right: that sparsity prunes, and one step past it is refused the same way.
        var ok = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", largest, "--output", tiny.PathIn("b"), "--json");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        var above = (double.Parse(largest, System.Globalization.CultureInfo.InvariantCulture) + 0.001).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var past = CliRunner.Run("prune", "--model", tiny.ModelDir, "--calibration", tiny.Tokens, "--sparsity", above, "--output", tiny.PathIn("c"));
        Assert.Equal(ExitCodes.UsageError, past.ExitCode);
        Assert.Contains("largest possible sparsity", past.Stderr);

        // prune --json: the last stdout line is one object describing the result.
        using var json = JsonDocument.Parse(ok.LastLine);
        var root = json.RootElement;
        Assert.Equal(Path.GetFullPath(tiny.PathIn("b")), root.GetProperty("output").GetString());
        Assert.True(root.GetProperty("parameters_after").GetInt64() < root.GetProperty("parameters_before").GetInt64());
        Assert.Equal(double.Parse(largest, System.Globalization.CultureInfo.InvariantCulture), root.GetProperty("sparsity").GetDouble());
        Assert.Equal(2, root.GetProperty("layers").GetArrayLength());
        Assert.True(root.GetProperty("kv_groups_after").GetInt32() >= 2); // every layer keeps a group
        Assert.True(root.GetProperty("neurons_after").GetInt32() >= 16);  // and 8 neurons
    }

    [Fact]
    public void Any_exception_type_is_one_error_line_with_the_trace_only_when_verbose()
    {
        Exception thrown;
        try { throw new NullReferenceException("Object reference not set to an instance of an object."); }
        catch (Exception e) { thrown = e; }
        var (code, text) = CliHost.Describe(thrown, verbose: false, cancelled: false);
        Assert.Equal(ExitCodes.RuntimeFailure, code);
        Assert.Equal("nirvana: error: internal error (NullReferenceException): Object reference not set to an instance of an object. (run with -v for the stack trace)", text);
        var (_, verbose) = CliHost.Describe(thrown, verbose: true, cancelled: false);
        Assert.Contains("   at ", verbose);

        Assert.Equal(ExitCodes.UsageError, CliHost.Describe(new ArgumentOutOfRangeException("x", "bad"), false, false).Code);
        Assert.Equal(ExitCodes.InputError, CliHost.Describe(new InvalidDataException("bad file"), false, false).Code);
        Assert.Equal(ExitCodes.InputError, CliHost.Describe(new FileNotFoundException("gone"), false, false).Code);
        Assert.Equal(ExitCodes.RuntimeFailure, CliHost.Describe(new IOException("disk"), false, false).Code);
        Assert.Equal((ExitCodes.Cancelled, "nirvana: cancelled"), CliHost.Describe(new OperationCanceledException(), false, cancelled: true));
        var oom = CliHost.Describe(new OutOfMemoryException(), false, false);
        Assert.StartsWith("nirvana: error: out of memory", oom.Text);
        Assert.DoesNotContain("\n", CliHost.Describe(new InvalidDataException("two\nlines"), false, false).Text);
    }

    [Fact]
    public void Help_never_calls_the_downloaded_default_model_embedded()
    {
        foreach (var command in new[] { "prune", "evaluate", "perplexity", "generate", "tokenize", "sample", "assets" })
        {
            var r = CliRunner.Run(command, "--help");
            Assert.Equal(0, r.ExitCode);
            Assert.DoesNotContain("embedded", r.Stdout);
        }
        Assert.Contains("downloaded", CliRunner.Run("prune", "--help").Stdout);
    }
}
