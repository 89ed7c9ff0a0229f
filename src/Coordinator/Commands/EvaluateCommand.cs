using System.CommandLine;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tokenizers;
using NirvanaCluster.Pruning.Calibration;
using NirvanaCluster.Pruning.Evaluation;
using Serilog;

namespace NirvanaCluster.Coordinator.Commands;

public static class EvaluateCommand
{
    public sealed record DatasetResult(string Name, string Kind, int Sequences, long Tokens, double Perplexity, double? KlToReference, double? ReferencePerplexity);

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder to evaluate (default: stories15M, downloaded and converted on first use)" };
        var reference = new Option<string?>("--reference") { Description = "Dense model folder: adds KL(dense || model) per token and the dense perplexity" };
        var text = new Option<string[]>("--text") { Description = "Text or JSONL file; repeatable", AllowMultipleArgumentsPerToken = false };
        var tokens = new Option<string[]>("--tokens") { Description = "JSON token-id file (array of arrays); repeatable" };
        var generated = NumberOption.Ints("--generated", "N held-out samples drawn from the reference (or the model) at temperature 1; repeatable", allowMultipleArgumentsPerToken: false);
        var tasks = new Option<string[]>("--tasks") { Description = "Zero-shot multiple-choice JSONL ({context, choices, gold}); repeatable" };
        var seqLen = NumberOption.Int("--seq-len", "Chunk length for --text and sample length for --generated (token files are scored as they are)", 128);
        var seed = NumberOption.Int("--seed", "Seed for --generated (keep it apart from calibration seeds)", 1234);
        var json = new Option<bool>("--json") { Description = "Print a JSON object as the last line of stdout" };
        var cluster = new ClusterFlags();
        var memory = new MemoryFlags(planning: false);
        var command = new Command("evaluate", "Perplexity per dataset, KL to a dense reference, and zero-shot accuracy")
        {
            model, reference, text, tokens, generated, tasks, seqLen, seed, json,
        };
        cluster.AddTo(command);
        memory.AddTo(command);
        CliHost.SetHandler(command, async (parse, cancellation) =>
        {
            var placement = memory.Apply(cluster.Read(parse), parse);
            var texts = parse.GetValue(text) ?? [];
            var tokenFiles = parse.GetValue(tokens) ?? [];
            var generatedCounts = parse.GetValue(generated) ?? [];
            var taskFiles = parse.GetValue(tasks) ?? [];
            if (texts.Length + tokenFiles.Length + generatedCounts.Length + taskFiles.Length == 0)
                throw new ArgumentException("nothing to evaluate: give --text, --tokens, --generated or --tasks");
            if (generatedCounts.Any(n => n <= 0)) throw new ArgumentException("--generated must be a positive number of samples");
            var length = parse.GetValue(seqLen);
            if (length < 2) throw new ArgumentException($"--seq-len must be at least 2 (got {length})");
            if (CliHost.IsGiven(parse, seqLen) && texts.Length + generatedCounts.Length == 0)
                throw new ArgumentException("--seq-len sets the chunk length of --text and the sample length of --generated; --tokens rows are scored as they are, so it does not apply");
            if (CliHost.IsGiven(parse, seed) && generatedCounts.Length == 0)
                throw new ArgumentException("--seed draws the --generated samples; without --generated it does not apply");
            foreach (var f in texts) InputFile.Require(f, "--text");
            foreach (var f in tokenFiles) InputFile.Require(f, "--tokens");
            foreach (var f in taskFiles) InputFile.Require(f, "--tasks");
            if (!placement.InProcess && (parse.GetValue(reference) is not null || taskFiles.Length > 0 || generatedCounts.Length > 0))
                throw new ArgumentException("with nodes, evaluate computes perplexity through the pipeline; --reference, --tasks and --generated need the models in this process");
            var dir = ModelLocator.Resolve(parse.GetValue(model));
            var referenceDir = parse.GetValue(reference) is { } r ? ModelLocator.Resolve(r, "--reference") : null;
            if (!placement.InProcess) return await EvaluateThroughNodesAsync(placement, dir, texts, tokenFiles, length, parse.GetValue(json), cancellation);
            using (var header = Checkpoint.Open(dir))
            {
                if (texts.Length + generatedCounts.Length > 0) SequenceLimit.Check(length, header.Config, "--seq-len");
                foreach (var n in generatedCounts) MemoryEstimate.CheckGenerated(header.Config, n, length, "--generated");
            }
            CheckMemory(dir, referenceDir, length, placement.MemoryBudget);
            var subject = ShardLoader.LoadAll(dir);
            var dense = referenceDir is null ? null : ShardLoader.LoadAll(referenceDir);
            if (dense is not null && dense.Vocab != subject.Vocab)
                throw new ArgumentException($"--reference has a vocabulary of {dense.Vocab}, the model {subject.Vocab}");
            var tokenizer = texts.Length + taskFiles.Length > 0 ? ModelTokenizer.Load(dir, subject.Config) : null;

            var datasets = FileDatasets(texts, tokenFiles, tokenizer, subject.Config, length, equalLength: false);
            foreach (var n in generatedCounts)
            {
                var source = dense ?? subject;
                var bos = source.Config.BosTokenId ?? throw new ArgumentException("--generated needs bos_token_id in config.json");
                Log.Information("Drawing {Samples} held-out samples of {Length} tokens from the {Source} model (seed {Seed})", n, length, dense is null ? "evaluated" : "reference", parse.GetValue(seed));
                datasets.Add(($"generated-{n}x{length}-seed{parse.GetValue(seed)}", "generated", TokenSequences.Generated(source, n, length, parse.GetValue(seed), bos)));
            }

            var results = new List<DatasetResult>();
            foreach (var (name, kind, sequences) in datasets)
            {
                using var progress = new ProgressLine($"evaluating {name}");
                var items = progress.Items(sequences.Length, sequences[0].Length);
                var ppl = Perplexity.Evaluate(subject, sequences, progress: items);
                double? kl = null, densePpl = null;
                if (dense is not null)
                {
                    densePpl = Perplexity.Evaluate(dense, sequences).Perplexity;
                    kl = KlDivergence.Evaluate(dense, subject, sequences.Where(s => s.Length == sequences[0].Length).ToArray());
                }
                results.Add(new DatasetResult(name, kind, sequences.Length, ppl.Tokens, ppl.Perplexity, kl, densePpl));
            }
            var taskResults = new List<MultipleChoiceResult>();
            foreach (var f in taskFiles)
            {
                var items = MultipleChoice.Load(f);
                using var progress = new ProgressLine($"zero-shot {Path.GetFileName(f)}");
                taskResults.Add(MultipleChoice.Evaluate(Path.GetFileNameWithoutExtension(f), subject, tokenizer!, items, progress.Items(items.Count, 1)));
            }

            Console.Out.WriteLine($"model {dir} ({subject.ParameterCount:N0} parameters)" + (referenceDir is null ? "" : $", reference {referenceDir} ({dense!.ParameterCount:N0})"));
            foreach (var d in results)
                Console.Out.WriteLine($"  {d.Name,-40} perplexity {d.Perplexity,10:F3}" + (d.ReferencePerplexity is { } rp ? $"  (dense {rp:F3})" : "")
                                      + (d.KlToReference is { } k ? $"  KL {k:F5}" : "") + $"  [{d.Sequences} seq, {d.Tokens:N0} tokens]");
            foreach (var t in taskResults)
                Console.Out.WriteLine($"  {t.Task,-40} acc {t.Accuracy:P1}  acc_norm {t.NormalizedAccuracy:P1}  [{t.Items} items]");
            if (parse.GetValue(json))
                JsonOutput.WriteLine(new
                {
                    model = dir,
                    reference = referenceDir,
                    parameters = subject.ParameterCount,
                    reference_parameters = dense?.ParameterCount,
                    datasets = results.Select(d => new { name = d.Name, kind = d.Kind, sequences = d.Sequences, tokens = d.Tokens, perplexity = d.Perplexity, kl = d.KlToReference, reference_perplexity = d.ReferencePerplexity }),
                    tasks = taskResults.Select(t => new { name = t.Task, items = t.Items, acc = t.Accuracy, acc_norm = t.NormalizedAccuracy }),
                });
            return 0;
        });
        return command;
    }

    /// <summary>Refuses up front when the models and a forward's workspace exceed --memory (or the available memory).</summary>
    private static void CheckMemory(string dir, string? referenceDir, int length, long? budget)
    {
        var models = new[] { dir, referenceDir }.OfType<string>().Select(d =>
        {
            using var checkpoint = Checkpoint.Open(d);
            return (checkpoint.Config, MemoryPlan.MatrixElementBytes(checkpoint));
        }).ToArray();
        MemoryPlan.CheckEvaluation(models, 4, Math.Max(length, 128), budget);
    }

    /// <summary>The datasets named by --text (chunked) and --tokens files, in that order.</summary>
    private static List<(string Name, string Kind, int[][] Sequences)> FileDatasets(string[] texts, string[] tokenFiles, ITokenizer? tokenizer,
        LlamaConfig config, int length, bool equalLength)
    {
        var datasets = new List<(string Name, string Kind, int[][] Sequences)>();
        foreach (var f in texts) datasets.Add((Path.GetFileName(f), "text", TokenSequences.Chunks(TokenSequences.ReadText(f), tokenizer!, length, f)));
        foreach (var f in tokenFiles)
        {
            var rows = TokenSequences.FromTokenFile(f, config.VocabSize, equalLength);
            SequenceLimit.CheckRows(rows, config, f);
            datasets.Add((Path.GetFileName(f), "tokens", rows));
        }
        return datasets;
    }

    /// <summary>Perplexity through the node actors: the model is never loaded here, each node holds its layers.</summary>
    private static async Task<int> EvaluateThroughNodesAsync(ClusterOptions placement, string dir, string[] texts, string[] tokenFiles, int length, bool json,
        CancellationToken cancellation)
    {
        using var checkpoint = Checkpoint.Open(dir);
        var config = checkpoint.Config;
        placement.ValidatedFor(config); // before any node process starts
        if (texts.Length > 0) SequenceLimit.Check(length, config, "--seq-len");
        // The pipeline runs micro-batches of one length, so token files must have equal rows here.
        var datasets = FileDatasets(texts, tokenFiles, texts.Length > 0 ? ModelTokenizer.Load(dir, config) : null, config, length, equalLength: true);
        const int microBatch = 4;
        await using var session = await ClusterSession.StartAsync(placement, dir, config, microBatch, datasets.Max(d => d.Sequences[0].Length), 4, cancellation,
            datasets.Max(d => d.Sequences.Length), ObjectiveKind.SequenceNll);
        var results = new List<DatasetResult>();
        foreach (var (name, kind, sequences) in datasets)
        {
            PassResult pass;
            using (var progress = new ProgressLine($"evaluating {name}"))
                pass = await session.Pipeline.RunPassAsync(sequences, microBatch, ObjectiveKind.SequenceNll, 4, progress, cancellation);
            var tokens = (long)sequences.Length * (sequences[0].Length - 1);
            results.Add(new DatasetResult(name, kind, sequences.Length, tokens, Math.Exp(pass.SequenceNll.Sum() / tokens), null, null));
        }
        Console.Out.WriteLine($"model {dir} ({ParameterCounts.Of(config):N0} parameters) on {session.Pipeline.Stages.Count} node(s)");
        foreach (var d in results)
            Console.Out.WriteLine($"  {d.Name,-40} perplexity {d.Perplexity,10:F3}  [{d.Sequences} seq, {d.Tokens:N0} tokens]");
        if (json)
            JsonOutput.WriteLine(new
            {
                model = dir,
                parameters = ParameterCounts.Of(config),
                nodes = session.Pipeline.Stages.Count,
                datasets = results.Select(d => new { name = d.Name, kind = d.Kind, sequences = d.Sequences, tokens = d.Tokens, perplexity = d.Perplexity }),
            });
        return 0;
    }
}
