using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using NirvanaCluster.Coordinator.Cli;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using NirvanaCluster.Pruning.Report;
using NirvanaCluster.Pruning.Saliency;
using NirvanaCluster.Pruning.Sweep;
using Serilog;

namespace NirvanaCluster.Coordinator.Run;

/// <summary>
/// One calibration pass (or one per --calibration-seeds seed, or saved scores), many models: every (seed, sparsity,
/// gamma) is planned from the scores, every distinct plan is scored on the held-out set with its removed units masked
/// (<see cref="MaskedEvaluation"/>, through the same stages), the lowest KL wins per sparsity, and the winners are
/// compacted into DIR/s&lt;sparsity&gt;/ beside DIR/sweep.json, DIR/report.md and the quality-vs-size chart. The
/// whole DIR appears at once, when complete.
/// </summary>
public static class SweepRun
{
    public sealed record Setup(PruneRequest Request, string ModelDir, string OutputDir, JsonObject RawConfig, LlamaConfig Config, string? Spec,
        int[][] Calibration, string CalibrationDescription, ModelIdentity Identity, IPipeline Pipeline, PruneJob Job, DType WeightDType);

    public const string JsonFile = "sweep.json";
    public const string ChartFile = "quality-vs-size.svg";
    public const string PngFile = "quality-vs-size.png";

    /// <summary>The folder of one sparsity's model: s0.20, s0.125 (two decimals at least, more only when needed).</summary>
    public static string FolderFor(double sparsity) => "s" + sparsity.ToString("0.00####", CultureInfo.InvariantCulture);

    public static async Task<PruneOutcome> RunAsync(Setup setup, Stopwatch clock, CancellationToken cancellation)
    {
        var request = setup.Request;
        var options = request.Options;
        var pipeline = setup.Pipeline;
        var sparsities = request.Sparsities.Count > 0 ? request.Sparsities : [options.Sparsity];
        var gammas = request.GammaCandidates.Count > 0 ? request.GammaCandidates : [options.Gamma];
        var selecting = request.GammaCandidates.Count > 0 || request.CalibrationSeeds.Count > 0;
        var timings = new Dictionary<string, double>();

        // 1. Score once per calibration set.
        var phase = Stopwatch.StartNew();
        var sets = new List<ScoreSet>();
        var calibrationRows = new List<int[]>(setup.Calibration);
        if (request.ScoresFile is { } file)
        {
            sets.Add(ScoresFile.Read(file, setup.Config, setup.Identity, options.Method));
            Log.Information("Sweep planned from saved scores {File}; no calibration pass", file);
        }
        else if (request.CalibrationSeeds.Count > 0)
            foreach (var seed in request.CalibrationSeeds)
            {
                var (rows, description) = await new CalibrationSource(setup.Spec, setup.ModelDir, setup.Config).LoadAsync(pipeline, request.Samples, request.SeqLen, seed, cancellation);
                calibrationRows.AddRange(rows);
                sets.Add(await ScoreAsync(setup, options with { Seed = seed }, rows, description, $"calibration seed {seed}", cancellation));
            }
        else
            sets.Add(await ScoreAsync(setup, options, setup.Calibration, setup.CalibrationDescription, "calibration", cancellation));
        timings["scoring"] = phase.Elapsed.TotalSeconds;

        // 2. Plan every candidate; 3. score the distinct ones on the held-out set, masked, through the stages.
        phase.Restart();
        var candidates = SweepPlanner.Plan(setup.Config, sets, sparsities, gammas, options);
        var heldOut = (await SelectionSet.ResolveAsync(request, setup.Spec, setup.ModelDir, setup.Config,
            request.CalibrationSeeds.Count > 0 ? request.CalibrationSeeds : [options.Seed], pipeline, cancellation)).Without(calibrationRows);
        timings["held_out_set"] = phase.Elapsed.TotalSeconds;
        phase.Restart();
        var first = SweepPlanner.FirstIdentical(candidates);
        var distinct = Enumerable.Range(0, candidates.Count).Where(i => first[i] == i).ToArray();
        Log.Information("Sweep: {Candidates} candidate plans ({Distinct} distinct) over sparsities {Sparsities}, gammas {Gammas}, {Sets} score set(s); held-out set {HeldOut}",
            candidates.Count, distinct.Length, string.Join(" ", sparsities), GammaGrid.Describe(gammas), sets.Count, heldOut.Description);
        MaskedEvaluationResult evaluation;
        using (var progress = new ProgressLine("held-out evaluation"))
            evaluation = await pipeline.EvaluateMaskedAsync(heldOut.Sequences, distinct.Select(i => candidates[i].Result.Plan.Layers).ToArray(),
                options.MicroBatchSize, options.MaxInFlight, progress, cancellation);
        var evaluated = candidates.Select((c, i) => c with { Quality = evaluation.Candidates[Array.IndexOf(distinct, first[i])] }).ToArray();
        foreach (var c in evaluated)
            Log.Information("Sparsity {Sparsity} gamma {Gamma}{Seed}: KL {Kl:F5}, perplexity {Perplexity:F3}, {Parameters:N0} parameters",
                c.Sparsity, c.Gamma, sets.Count > 1 ? $" seed {sets[c.ScoreSet].Seed}" : "", c.Quality!.Kl, c.Quality.Perplexity, c.Result.Plan.ParametersAfter);
        var chosen = SweepPlanner.Choose(evaluated, sparsities);
        timings["held_out_evaluation"] = phase.Elapsed.TotalSeconds;

        // 4. Compact and write the winners, the summary and the report, all in one staging folder.
        phase.Restart();
        int? SeedOf(SweepCandidate c) => sets.Count > 1 ? sets[c.ScoreSet].Seed : null;
        var models = chosen.Select(c => new SweepReport.Model(c, FolderFor(c.Sparsity), SeedOf(c))).ToArray();
        var denseParameters = ParameterCounts.Of(setup.Config);
        AtomicDirectory.Create(setup.OutputDir, request.Force, inputs: [setup.ModelDir, .. PruneRun.OtherInputs(request) ?? []], what: "pruning sweep", fill: staging =>
        {
            foreach (var m in models)
            {
                var set = sets[m.Candidate.ScoreSet];
                var result = m.Candidate.Result;
                var extras = PruneRun.Extras(setup.ModelDir, set.Calibration, set.Seed, set.Objective, result, pipeline.Stages, null);
                extras["scores_from"] = request.ScoresFile is null ? null : Path.GetFullPath(request.ScoresFile);
                extras["held_out"] = new { description = heldOut.Description, kl = m.Candidate.Quality!.Kl, perplexity = m.Candidate.Quality.Perplexity };
                var inputs = new PrunedModelWriter.Inputs(setup.ModelDir, setup.RawConfig, result, set.Calibration, extras, false, request.DType ?? setup.WeightDType,
                    OtherInputs: PruneRun.OtherInputs(request), Scores: set);
                PrunedModelOutput.Write(Path.Combine(staging, m.Path), inputs, pipeline, false, clock.Elapsed, cancellation);
            }
            var points = new List<QualityPoint> { new(denseParameters, evaluation.DensePerplexity, 0, "dense", QualityPointKind.Dense) };
            points.AddRange(evaluated.Where(c => !chosen.Contains(c)).Select(c => new QualityPoint(c.Result.Plan.ParametersAfter, c.Quality!.Perplexity, c.Quality.Kl,
                Label(c, SeedOf(c)), QualityPointKind.Candidate)));
            points.AddRange(chosen.Select(c => new QualityPoint(c.Result.Plan.ParametersAfter, c.Quality!.Perplexity, c.Quality.Kl, Label(c, SeedOf(c)), QualityPointKind.Model)));
            var title = $"Quality vs size: {Path.GetFileName(setup.ModelDir.TrimEnd('/'))}, {options.Method.Name()}, held-out {heldOut.Sequences.Length} x {heldOut.Sequences[0].Length}";
            File.WriteAllText(Path.Combine(staging, ChartFile), QualityChart.Render(points, title));
            var png = QualityChartPng.TryWrite(Path.Combine(staging, PngFile), points, title) ? PngFile : null;
            timings["writing"] = phase.Elapsed.TotalSeconds;
            File.WriteAllText(Path.Combine(staging, "report.md"), SweepReport.Render(setup.ModelDir, options.Method.Name(), chosen[0].Result.Plan.Allocation,
                sets.Count == 1 ? sets[0].Calibration : $"{sets.Count} sets, seeds {string.Join(", ", sets.Select(s => s.Seed))}", heldOut.Description,
                evaluation.DensePerplexity, denseParameters, models, evaluated.Select(c => (c, SeedOf(c))).ToArray(), selecting, clock.Elapsed, ChartFile, png));
            File.WriteAllText(Path.Combine(staging, JsonFile), SweepJson(setup, heldOut, evaluation, denseParameters, models, evaluated, sets, selecting, timings, clock.Elapsed));
        });
        var summary = string.Join("\n", models.Select(m =>
            $"sparsity {m.Candidate.Sparsity:0.###} gamma {m.Candidate.Gamma:0.###}{(m.Seed is { } s ? $" seed {s}" : "")}: {setup.OutputDir}/{m.Path}, " +
            $"parameters {denseParameters:N0} -> {m.Candidate.Result.Plan.ParametersAfter:N0}, held-out KL {m.Candidate.Quality!.Kl:F5}, perplexity {m.Candidate.Quality.Perplexity:F3}"))
            + $"\nsweep of {models.Length} model(s) from {candidates.Count} candidate(s) -> {setup.OutputDir} (sweep.json, report.md), {clock.Elapsed.TotalSeconds:F1} s";
        Log.Information("Report: {Report}", Path.Combine(setup.OutputDir, "report.md"));
        return new PruneOutcome(setup.ModelDir, setup.OutputDir, chosen[0].Result.Plan, clock.Elapsed) { SweepSummary = summary };
    }

    private static async Task<ScoreSet> ScoreAsync(Setup setup, PruneOptions options, int[][] calibration, string description, string label, CancellationToken cancellation)
    {
        var job = new PruneJob(setup.Config, setup.Pipeline, options);
        ScoredModel scored;
        using (var progress = new ProgressLine(label))
            scored = await job.ScoreAsync(calibration, progress, cancellation);
        return new ScoreSet(scored.Scores, options.Method, options.Seed, description, setup.Identity, scored.Calibration?.Objective);
    }

    private static string Label(SweepCandidate c, int? seed) =>
        string.Create(CultureInfo.InvariantCulture, $"s {c.Sparsity:0.###}, gamma {c.Gamma:0.###}{(seed is { } s ? $", seed {s}" : "")}");

    private static string SweepJson(Setup setup, SelectionSet heldOut, MaskedEvaluationResult evaluation, long denseParameters,
        IReadOnlyList<SweepReport.Model> models, IReadOnlyList<SweepCandidate> evaluated, IReadOnlyList<ScoreSet> sets, bool selecting,
        Dictionary<string, double> timings, TimeSpan elapsed)
    {
        var options = setup.Request.Options;
        var root = new JsonObject
        {
            ["model"] = setup.ModelDir,
            ["method"] = options.Method.Name(),
            ["allocation"] = models[0].Candidate.Result.Plan.Allocation,
            ["calibration"] = new JsonArray(sets.Select(s => (JsonNode)new JsonObject { ["seed"] = s.Seed, ["description"] = s.Calibration }).ToArray()),
            ["held_out"] = new JsonObject
            {
                ["description"] = heldOut.Description,
                ["file"] = heldOut.File,
                ["seed"] = heldOut.Seed,
                ["sequences"] = evaluation.Sequences,
                ["positions"] = evaluation.Positions,
            },
            ["dense"] = new JsonObject { ["parameters"] = denseParameters, ["perplexity"] = evaluation.DensePerplexity, ["kl"] = 0.0 },
            ["models"] = new JsonArray(models.Select(m =>
            {
                var o = new JsonObject
                {
                    ["sparsity"] = m.Candidate.Sparsity, ["gamma"] = m.Candidate.Gamma, ["path"] = m.Path,
                    ["parameters"] = m.Candidate.Result.Plan.ParametersAfter, ["kl"] = m.Candidate.Quality!.Kl, ["perplexity"] = m.Candidate.Quality.Perplexity,
                };
                if (m.Seed is { } s) o["seed"] = s;
                return (JsonNode)o;
            }).ToArray()),
            ["seconds"] = new JsonObject(timings.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)JsonValue.Create(Math.Round(t.Value, 3))))),
            ["elapsed_seconds"] = Math.Round(elapsed.TotalSeconds, 3),
        };
        if (selecting)
        {
            root["selection"] = setup.Request.GammaCandidates.Count > 0 ? "lowest held-out KL over gamma candidates" + (sets.Count > 1 ? " and calibration seeds" : "")
                : "lowest held-out KL over calibration seeds";
            root["gamma_candidates"] = new JsonArray(evaluated.Select(c =>
            {
                var o = new JsonObject
                {
                    ["sparsity"] = c.Sparsity, ["gamma"] = c.Gamma, ["kl"] = c.Quality!.Kl, ["perplexity"] = c.Quality.Perplexity,
                    ["parameters"] = c.Result.Plan.ParametersAfter, ["chosen"] = models.Any(m => ReferenceEquals(m.Candidate, c)),
                };
                if (sets.Count > 1) o["seed"] = sets[c.ScoreSet].Seed;
                return (JsonNode)o;
            }).ToArray());
        }
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
