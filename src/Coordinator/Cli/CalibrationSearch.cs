using System.Collections.Concurrent;
using NirvanaCluster.Coordinator.Run;
using NirvanaCluster.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// KL-guided calibration selection (NIRVANA.md section 5): each candidate calibration set (drawn with its own seed)
/// prunes the model; each pruned model is compared with the dense one on a fixed held-out set (the authors: 128
/// sequences of 64 tokens, one seed) by KL(dense || pruned) per token, with its removed units masked, and the lowest
/// wins. Candidates run side by side when the session has several pipelines (disjoint node groups), each taking the
/// next seed; every candidate's scores, plan and KL are what it gives alone, so the choice does not depend on that.
/// </summary>
public static class CalibrationSearch
{
    public const int HeldOutSequences = 128;
    public const int HeldOutLength = 64;
    public const int HeldOutSeed = 4242;

    public sealed record Candidate(int Seed, double Kl, string Description);

    public sealed record Outcome(PruneResult Best, Candidate Chosen, IReadOnlyList<Candidate> Candidates, string HeldOut)
    {
        public Pruning.Report.PruningReport.CalibrationSearchRows ReportRows =>
            new(HeldOut, Candidates.Select(c => new Pruning.Report.PruningReport.CalibrationCandidate(c.Seed, c.Description, c.Kl)).ToArray(), Chosen.Seed);
    }

    /// <param name="heldOut">the selection set (<see cref="Run.SelectionSet"/>: --selection-tokens, or drawn with --selection-samples)</param>
    public static async Task<Outcome> RunAsync(IReadOnlyList<int> seeds, CalibrationSource source, Run.SelectionSet heldOut, PruneRequest request,
        Engine.Model.LlamaConfig config, IReadOnlyList<IPipeline> pipelines, CancellationToken cancellation)
    {
        if (seeds.Count == 0) throw new ArgumentException("--calibration-seeds needs at least one seed");
        if (seeds.Distinct().Count() != seeds.Count) throw new ArgumentException("--calibration-seeds lists a seed twice");
        var options = request.Options;
        Log.Information("Calibration search over seeds {Seeds} on {Pipelines} pipeline(s); held-out set: {HeldOut}",
            string.Join(", ", seeds), pipelines.Count, heldOut.Description);

        var results = new (PruneResult Result, Candidate Candidate)?[seeds.Count];
        var next = new ConcurrentQueue<int>(Enumerable.Range(0, seeds.Count));
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        async Task Work(IPipeline pipeline)
        {
            while (next.TryDequeue(out var i))
            {
                var seed = seeds[i];
                var (sequences, description) = await source.LoadAsync(pipeline, request.Samples, request.SeqLen, seed, failed.Token);
                var job = new PruneJob(config, pipeline, options with { Seed = seed });
                PruneResult result;
                using (var progress = new ProgressLine($"calibration seed {seed}"))
                    result = await job.PlanAsync(sequences, progress, failed.Token);
                var evaluation = await pipeline.EvaluateMaskedAsync(heldOut.Sequences, [result.Plan.Layers], options.MicroBatchSize, options.MaxInFlight, null, failed.Token);
                var kl = evaluation.Candidates[0].Kl;
                Log.Information("Seed {Seed}: KL(dense || pruned) = {Kl:F5} per held-out token", seed, kl);
                results[i] = (result, new Candidate(seed, kl, description));
            }
        }
        var workers = pipelines.Select(Work).ToArray();
        try
        {
            await Task.WhenAll(workers);
        }
        catch
        {
            await failed.CancelAsync();
            var root = workers.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).FirstOrDefault(e => e is not OperationCanceledException);
            if (root is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(root);
            throw;
        }
        var candidates = results.Select(r => r!.Value.Candidate).ToArray();
        // The first lowest in seed order: the same choice however the candidates were spread over pipelines.
        var best = Enumerable.Range(0, candidates.Length).MinBy(i => candidates[i].Kl);
        Log.Information("Chose calibration seed {Seed} (KL {Kl:F5})", candidates[best].Seed, candidates[best].Kl);
        return new Outcome(results[best]!.Value.Result, candidates[best], candidates, heldOut.Description);
    }
}
