using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Coordinator.Tests.BadInput;

/// <summary>
/// The adversarial sweep of issue 13 kept as a suite: each case is one invocation of the real `nirvana` with one
/// thing wrong, and must end with the exit code of its class, one `nirvana: error:` line naming the flag, file or
/// field, no stack trace, nothing on stdout and no output written. Classes follow the issue:
/// 1 data loss, 3 silent misreads, 4 resource bombs, 5 internal errors, 6 misleading messages, 8 conventions
/// (2 and 7 are tested where their code is: SamplerTests, StagingAreaTests).
/// </summary>
public sealed record BadInputCase(int Class, string Name, int ExitCode, string Expected, Func<Scenario, string[]> Args,
    Action<Scenario>? Setup = null, IReadOnlyDictionary<string, string>? Environment = null, int Layers = 2, int Vocab = 50);

/// <summary>A tiny model in a temp folder, and the broken things the cases need beside it.</summary>
public sealed class Scenario : IDisposable
{
    public Scenario(int layers, int vocab = 50) => Tiny = new TinyModel(layers, adjust: c => c with { VocabSize = vocab });

    public TinyModel Tiny { get; }
    public string Model => Tiny.ModelDir;
    public string Tokens => Tiny.Tokens;
    public string Out => Tiny.PathIn("out");
    public string In(string name) => Tiny.PathIn(name);

    public void EditConfig(Action<JsonObject> edit)
    {
        var path = Path.Combine(Model, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>Rewrites the model's weights after <paramref name="edit"/> changed them (same config).</summary>
    public void EditWeights(Action<LlamaShard> edit)
    {
        var shard = ShardLoader.LoadAll(Model);
        edit(shard);
        var tensors = shard.Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)).ToList();
        CheckpointWriter.Write(Model, Tiny.Config, tensors, new CheckpointWriteOptions { Force = true });
    }

    /// <summary>llama2.c's 32000-piece tokenizer, far larger than the tiny model's 50-token vocabulary.</summary>
    public void AddLargeTokenizer() =>
        File.Copy(Path.Combine(Engine.Assets.DefaultModel.Ensure(), "tokenizer.bin"), Path.Combine(Model, "tokenizer.bin"));

    public string WriteRows(string name, int rows, int length)
    {
        var path = In(name);
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(Enumerable.Range(0, rows).Select(_ => Enumerable.Repeat(3, length).ToArray())));
        return path;
    }

    public void Dispose() => Tiny.Dispose();
}

public static class BadInputCases
{
    private static string[] Prune(Scenario s, params string[] more) =>
        ["prune", "--model", s.Model, "--calibration", s.Tokens, "--output", s.Out, .. more];

    public static readonly BadInputCase[] All =
    [
        // 1. Data loss (the full set of paths is in OutputSafetyTests)
        new(1, "prune --force over the model's parent", 2, "contains the input", s => ["prune", "--model", s.Model, "--calibration", s.Tokens, "--sparsity", "0.3", "--output", s.Tiny.Root, "--force"]),
        new(1, "sample --output the model's config.json", 2, "lies inside the input", s => ["sample", "--model", s.Model, "--output", Path.Combine(s.Model, "config.json")]),

        // 3. Silent misreads
        new(3, "--gamma 3,36", 2, "--gamma: '3,36' has a comma", s => Prune(s, "--sparsity", "0.3", "--gamma", "3,36")),
        new(3, "--sparsity 0,2", 2, "--sparsity: '0,2' has a comma", s => Prune(s, "--sparsity", "0,2")),
        new(3, "--temperature 0,7", 2, "--temperature: '0,7' has a comma", s => ["generate", "--model", s.Model, "--prompt", "a", "--temperature", "0,7"]),
        new(3, "config with fewer layers than the checkpoint", 3, "'num_hidden_layers' is 2, but .* holds 3 layers",
            s => ["perplexity", "--model", s.Model, "--tokens", s.Tokens], s => s.EditConfig(c => c["num_hidden_layers"] = 2), Layers: 3),
        new(3, "bos_token_id outside the vocabulary", 3, "'bos_token_id' must be a token id within vocab_size 50",
            s => ["sample", "--model", s.Model, "--output", s.In("s.json")], s => s.EditConfig(c => c["bos_token_id"] = 50)),
        new(3, "max_position_embeddings 0", 3, "'max_position_embeddings' must be positive",
            s => ["perplexity", "--model", s.Model, "--tokens", s.Tokens], s => s.EditConfig(c => c["max_position_embeddings"] = 0)),
        new(3, "sample --seq-len past max_position_embeddings", 2, "--seq-len is 100 tokens, more than the model's max_position_embeddings 64",
            s => ["sample", "--model", s.Model, "--seq-len", "100", "--output", s.In("s.json")]),
        new(3, "prune generated --seq-len past max_position_embeddings", 2, "--seq-len is 65 tokens, more than the model's max_position_embeddings 64",
            s => ["prune", "--model", s.Model, "--calibration", "generated", "--seq-len", "65", "--sparsity", "0.3", "--output", s.Out]),
        new(3, "evaluate --generated --seq-len past max_position_embeddings", 2, "--seq-len is 80 tokens",
            s => ["evaluate", "--model", s.Model, "--generated", "2", "--seq-len", "80"]),
        new(3, "perplexity token rows past max_position_embeddings", 3, "row 0 has 70 tokens, more than the model's max_position_embeddings 64",
            s => ["perplexity", "--model", s.Model, "--tokens", s.WriteRows("long.json", 2, 70)]),
        new(3, "prune token rows past max_position_embeddings", 3, "row 0 has 65 tokens",
            s => ["prune", "--model", s.Model, "--calibration", s.WriteRows("long.json", 4, 65), "--sparsity", "0.3", "--output", s.Out]),
        new(3, "generate prompt + new tokens past max_position_embeddings", 2, "plus --max-new-tokens 100 is .* more than the model's max_position_embeddings",
            s => ["generate", "--model", s.Model, "--prompt", "a", "--max-new-tokens", "100"], s => s.AddLargeTokenizer(), Vocab: 32000),
        new(3, "a NaN weight", 3, "tensor 'model.layers.1.mlp.up_proj.weight' holds NaN at element 7",
            s => ["perplexity", "--model", s.Model, "--tokens", s.Tokens], s => s.EditWeights(m => m.Layers[1].UpProj.Single[7] = float.NaN)),
        // Found by the stage that loads it (a node, in a cluster): that stage's failure, classed as bad input.
        new(3, "an infinite weight, in prune", 3, "stage in-process \\[0, 2\\) failed during load: .* tensor 'model.norm.weight' holds \\+inf at element 0",
            s => Prune(s, "--sparsity", "0.3"), s => s.EditWeights(m => m.FinalNorm![0] = float.PositiveInfinity)),
        new(3, "finite weights whose logits overflow", 3, "sequence 0, position 0: the model's logits hold",
            s => ["perplexity", "--model", s.Model, "--tokens", s.Tokens], s => s.EditWeights(m => { Array.Fill(m.FinalNorm!, 1e19f); m.LmHead!.Single.Fill(1e19f); })),
        new(3, "finite weights that overflow the calibration pass", 3, "calibration pass \\(8 sequences\\): the MaxLogit objective came out (NaN|∞|-∞|Infinity); the model's logits overflow",
            s => Prune(s, "--sparsity", "0.3"), s => s.EditWeights(m => { Array.Fill(m.FinalNorm!, 1e19f); m.LmHead!.Single.Fill(1e19f); })),

        // 4. Resource bombs
        new(4, "prune --nodes 1000 on a 2-layer model", 2, "--nodes 1000: the model has 2 layer\\(s\\) and each node holds at least one",
            s => Prune(s, "--sparsity", "0.3", "--nodes", "1000")),
        new(4, "evaluate --nodes 5 on a 2-layer model", 2, "--nodes 5: the model has 2 layer",
            s => ["evaluate", "--model", s.Model, "--tokens", s.Tokens, "--nodes", "5"]),
        new(4, "prune --expect-nodes 9 on a 2-layer model", 2, "--expect-nodes 9: the model has 2 layer",
            s => Prune(s, "--sparsity", "0.3", "--listen", "127.0.0.1:0", "--expect-nodes", "9")),
        new(4, "prune generated --samples 2147483647", 2, "--samples 2147483647 samples of 16 tokens .* need",
            s => ["prune", "--model", s.Model, "--calibration", "generated", "--seq-len", "16", "--samples", "2147483647", "--sparsity", "0.3", "--output", s.Out]),
        new(4, "sample --samples 2147483647", 2, "--samples 2147483647 samples of 16 tokens .* need",
            s => ["sample", "--model", s.Model, "--samples", "2147483647", "--seq-len", "16", "--output", s.In("s.json")]),
        new(4, "evaluate --generated 2147483647", 2, "--generated 2147483647 samples of 16 tokens .* need",
            s => ["evaluate", "--model", s.Model, "--generated", "2147483647", "--seq-len", "16"]),
        new(4, "prune generated samples beyond the memory limit", 2, "need about .* of memory; this process has 1.0 MB available, so at most about",
            s => ["prune", "--model", s.Model, "--calibration", "generated", "--samples", "5000", "--seq-len", "64", "--sparsity", "0.3", "--output", s.Out],
            Environment: new Dictionary<string, string> { ["NIRVANA_MEMORY_LIMIT_BYTES"] = "1000000" }),

        // 5. Internal errors instead of answers
        new(5, "--sparsity 0.999", 2, "--sparsity 0.999 with --gamma 3.36 asks to remove .* the largest possible sparsity is",
            s => Prune(s, "--sparsity", "0.999")),
        new(5, "--gamma 1000 at sparsity 0.9", 2, "keep the sparsity with --gamma between about 0.85 and 1.429",
            s => Prune(s, "--sparsity", "0.9", "--gamma", "1000")),
        new(5, "a tokenizer larger than the vocabulary (generate)", 3, "the tokenizer has 32000 tokens but config.json field 'vocab_size' is 50",
            s => ["generate", "--model", s.Model, "--prompt", "Once upon a time"], s => s.AddLargeTokenizer()),
        new(5, "a tokenizer larger than the vocabulary (perplexity --text)", 3, "the tokenizer has 32000 tokens",
            s => { File.WriteAllText(s.In("t.txt"), string.Concat(Enumerable.Repeat("Once upon a time there was a cat. ", 20))); return ["perplexity", "--model", s.Model, "--text", s.In("t.txt"), "--seq-len", "8"]; },
            s => s.AddLargeTokenizer()),

        // 6. Misleading messages
        new(6, "--calibration is a folder", 2, "--calibration: '.*' is a folder; a file is expected here",
            s => ["prune", "--model", s.Model, "--calibration", s.Tiny.Root, "--sparsity", "0.3", "--output", s.Out]),
        new(6, "perplexity --tokens is a folder", 2, "--tokens: '.*' is a folder", s => ["perplexity", "--model", s.Model, "--tokens", s.Model]),
        new(6, "evaluate --tasks is a folder", 2, "--tasks: '.*' is a folder", s => ["evaluate", "--model", s.Model, "--tasks", s.Model]),
        new(6, "--model is a file", 2, "--model: '.*' is a file; expected a Hugging Face model folder", s => ["perplexity", "--model", s.Tokens, "--tokens", s.Tokens]),
        new(6, "evaluate --reference does not exist", 2, "--reference: folder '.*missing-dense' does not exist",
            s => ["evaluate", "--model", s.Model, "--reference", s.In("missing-dense"), "--tokens", s.Tokens]),
        new(6, "prune --output in an unwritable place", 2, "--output '/proc/nirvana-no/out': cannot write into '/proc'",
            s => ["prune", "--model", s.Model, "--calibration", s.Tokens, "--sparsity", "0.3", "--output", "/proc/nirvana-no/out"]),
        new(6, "sample --output in an unwritable place", 2, "--output '/proc/nirvana-no.json': cannot write into '/proc'",
            s => ["sample", "--model", s.Model, "--output", "/proc/nirvana-no.json"]),

        // 8. Conventions
        new(8, "an unknown flag", 2, "Unrecognized command or argument '--bogus'", s => Prune(s, "--sparsity", "0.3", "--bogus")),
        new(8, "a missing required flag", 2, "Option '--sparsity' is required", s => Prune(s)),
        new(8, "a word for a number", 2, "--samples: 'many' is not a whole number", s => Prune(s, "--sparsity", "0.3", "--samples", "many")),
        new(8, "no command at all", 2, "Required command was not provided", _ => []),
        new(8, "perplexity --seq-len with --tokens", 2, "--tokens rows are scored as they are, so it does not apply",
            s => ["perplexity", "--model", s.Model, "--tokens", s.Tokens, "--seq-len", "8"]),
        new(8, "evaluate --seq-len with only --tokens", 2, "--tokens rows are scored as they are, so it does not apply",
            s => ["evaluate", "--model", s.Model, "--tokens", s.Tokens, "--seq-len", "8"]),
        new(8, "evaluate --seed without --generated", 2, "without --generated it does not apply",
            s => ["evaluate", "--model", s.Model, "--tokens", s.Tokens, "--seed", "5"]),
        new(8, "prune --samples with a token file", 2, "is a token file, used as it is .* --samples and --seq-len apply to text files and 'generated' only",
            s => Prune(s, "--sparsity", "0.3", "--samples", "8")),
        new(8, "prune --selection-tokens where nothing selects", 2, "--selection-tokens: only a sweep, a --gamma list or --calibration-seeds uses a held-out set",
            s => Prune(s, "--sparsity", "0.3", "--selection-tokens", s.Tokens)),
        new(8, "prune --selection-samples beside --selection-tokens", 2, "--selection-samples: the held-out set is the --selection-tokens file",
            s => ["prune", "--model", s.Model, "--calibration", "generated", "--calibration-seeds", "1", "2", "--sparsity", "0.3",
                  "--selection-tokens", s.Tokens, "--selection-samples", "4", "--output", s.Out]),
    ];

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All) data.Add(c.Name);
        return data;
    }
}

public class BadInputSweepTests
{
    [Theory]
    [MemberData(nameof(BadInputCases.Names), MemberType = typeof(BadInputCases))]
    public void Each_bad_input_is_one_clear_error_with_the_exit_code_of_its_class(string name)
    {
        var c = BadInputCases.All.Single(x => x.Name == name);
        // Against another build (NIRVANA_TEST_PROGRAM_DIR, to see what an older one mishandles) the resource bombs are
        // not fired: an older build really starts 1000 node processes.
        if (c.Class == 4 && Environment.GetEnvironmentVariable("NIRVANA_TEST_PROGRAM_DIR") is { Length: > 0 }) return;
        using var s = new Scenario(c.Layers, c.Vocab);
        c.Setup?.Invoke(s);
        var args = c.Args(s);
        var r = CliRunner.RunProgram("nirvana.dll", args, c.Environment, timeoutSeconds: 120);

        var context = $"{name}: nirvana {string.Join(' ', args)}\nexit {r.ExitCode}\nstderr: {r.Stderr}\nstdout: {r.Stdout}";
        Assert.True(r.ExitCode == c.ExitCode, context);
        var errors = r.Stderr.Split('\n').Where(l => l.StartsWith("nirvana:", StringComparison.Ordinal)).ToArray();
        Assert.True(errors.Length >= 1 && errors.All(l => l.StartsWith("nirvana: error: ", StringComparison.Ordinal)), context);
        Assert.True(Regex.IsMatch(string.Join('\n', errors), c.Expected), $"expected /{c.Expected}/\n{context}");
        Assert.DoesNotMatch(@"\n\s+at \S+\(", r.Stderr); // no stack trace without -v
        Assert.DoesNotContain("Started", r.Stderr);       // no node process was started
        Assert.Equal("", r.Stdout.Trim());               // errors are on stderr; no help dumped on stdout
        Assert.False(Directory.Exists(s.Out), context);
    }

    [Fact]
    public void The_readme_table_counts_the_sweep_by_class()
    {
        var readme = File.ReadAllText(Path.Combine(Deploy.DeployTree.RepositoryRoot, "README.md"));
        foreach (var group in BadInputCases.All.GroupBy(c => c.Class))
            Assert.Matches($@"\| {group.Key}\. [^|]+\| {group.Count()} \|", readme);
    }
}
