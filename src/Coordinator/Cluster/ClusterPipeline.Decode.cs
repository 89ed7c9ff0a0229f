using NirvanaCluster.Messages.Pruning;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// Sampling through the stages: a model that fits no single machine still draws its own calibration data. Each
/// position is one trip down the pipeline (tokens to stage 0, hidden states stage to stage, the head samples) and
/// back to the coordinator with the next tokens; after a lost node the run starts again from its seeds, so the
/// sequences are the same.
/// </summary>
public sealed partial class ClusterPipeline
{
    public Task<int[][]> GenerateAsync(IReadOnlyList<int[]> prompts, int newTokens, float temperature, int seed, IProgress<int>? progress,
        CancellationToken cancellation)
    {
        if (prompts.Count == 0 || prompts[0].Length == 0 || prompts.Any(p => p.Length != prompts[0].Length))
            throw new ArgumentException("prompts must be non-empty and of equal length");
        if (newTokens < 0) throw new ArgumentOutOfRangeException(nameof(newTokens));
        return WithRecoveryAsync("sampling", () => GenerateOnceAsync(prompts, newTokens, temperature, seed, progress, cancellation), restore: null, cancellation);
    }

    private async Task<int[][]> GenerateOnceAsync(IReadOnlyList<int[]> prompts, int newTokens, float temperature, int seed, IProgress<int>? progress,
        CancellationToken cancellation)
    {
        var promptLength = prompts[0].Length;
        var total = promptLength + newTokens;
        var id = Interlocked.Increment(ref _nextPass);
        var all = await StartSessionAsync<DecodeBegun>(id, (upstream, downstream) => new BeginDecode
        {
            DecodeId = id, Batch = prompts.Count, Positions = total, Temperature = temperature, Seed = seed, PromptLength = promptLength,
            Upstream = upstream, Downstream = downstream,
        }, "the start of sampling", cancellation);

        var outputs = prompts.Select(p => new List<int>(p)).ToArray();
        for (var t = 0; t < total - 1; t++)
        {
            var step = new DecodeStep { DecodeId = id, Position = t };
            foreach (var o in outputs) step.Tokens.Add(o[t]);
            _refs.Tell(0, step, _inbox.Ref);
            var doing = $"sampling position {t}";
            DecodedTokens next;
            while (true)
            {
                var reply = await ReadAsync(cancellation);
                if (reply.Message is DecodedTokens d && d.DecodeId == id && d.Position == t) { next = d; break; }
                await UnexpectedAsync(reply, doing, cancellation, id);
            }
            if (t + 1 < promptLength) continue;
            if (next.Tokens.Count != outputs.Length) throw new InvalidDataException($"the head sampled {next.Tokens.Count} tokens for {outputs.Length} sequences");
            for (var b = 0; b < outputs.Length; b++) outputs[b].Add(next.Tokens[b]);
            progress?.Report(t + 2 - promptLength);
        }
        foreach (var i in all) _refs.Tell(i, new EndDecode { DecodeId = id }, _inbox.Ref);
        await GatherAsync<DecodeEnded>(all, _ => "the end of sampling", cancellation, id);
        return outputs.Select(o => o.ToArray()).ToArray();
    }
}
