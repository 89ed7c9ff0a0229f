using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Pruning.Pipeline;

/// <summary>The shape of a calibration (or evaluation) pass, as far as memory is concerned.</summary>
/// <param name="MicroBatch">sequences per micro-batch (B)</param>
/// <param name="Positions">tokens per sequence (T)</param>
/// <param name="Sequences">sequences in the pass (N)</param>
/// <param name="InFlight">micro-batches the driver keeps in flight</param>
/// <param name="Objective">what the head computes: a gradient objective (calibration) or a forward-only one (evaluation, magnitude)</param>
public sealed record PassShape(int MicroBatch, int Positions, int Sequences, int InFlight = 4, ObjectiveKind Objective = ObjectiveKind.MaxLogit)
{
    public bool Gradient => Objective.HasGradient();

    public int MicroBatches => (Sequences + MicroBatch - 1) / MicroBatch;
    public long Tokens => (long)Sequences * Positions;
    public long MicroBatchTokens => (long)Math.Min(MicroBatch, Sequences) * Positions;

    public PassShape Validated()
    {
        if (MicroBatch <= 0 || Positions <= 0 || Sequences <= 0 || InFlight <= 0)
            throw new ArgumentException($"pass shape needs positive sizes (micro-batch {MicroBatch}, positions {Positions}, sequences {Sequences}, in flight {InFlight})");
        return this;
    }
}

/// <summary>What a stage holds: its layers and ends, and the bytes per element its matrices are held at.</summary>
public sealed record StageExtent(int FirstLayer, int EndLayer, bool Embedding, bool Head, int MatrixElementBytes = 4)
{
    public int Layers => EndLayer - FirstLayer;
}

/// <summary>A stage's need under each schedule (bytes, runtime included) and the parts it is made of.</summary>
public sealed record StageNeed(long AllLayersBytes, long LayerBoundedBytes, long WeightBytes, long RuntimeBytes)
{
    public long BytesFor(StageSchedule schedule) => schedule == StageSchedule.AllLayers ? AllLayersBytes : LayerBoundedBytes;

    /// <summary>The faster schedule when it fits the budget, else the bounded one when that fits, else none.</summary>
    public StageSchedule? Choose(long budget) =>
        AllLayersBytes <= budget ? StageSchedule.AllLayers : LayerBoundedBytes <= budget ? StageSchedule.LayerBounded : null;
}

/// <summary>
/// The bytes a stage needs at its peak, counted from the same sizes its code allocates: weights at their held
/// precision (norms and biases fp32), the calibration pass under each schedule, compaction, and the runtime.
/// The pass and compaction do not overlap (a stage releases its gradients and tapes when it has scored), so the
/// need is the runtime plus the weights plus the larger of the two.
/// </summary>
public static class StageMemoryModel
{
    /// <summary>
    /// The process outside the model: the .NET runtime and its libraries, the actor system, OpenBLAS's per-thread
    /// buffers, code and stacks. Measured on this project's machine as the peak RSS of `nirvana prune` on a tiny model
    /// (70 MiB with either GEMM backend); the rest is a margin for OpenBLAS's panels in large products and heap slack.
    /// </summary>
    public const long RuntimeBytes = 96L << 20;

    /// <summary>Bytes of one compaction part a node builds at a time (<c>ShardNodeActor.PartBytes</c>).</summary>
    public const long CompactionPartBytes = 32L << 20;

    public static StageNeed Need(LlamaConfig c, StageExtent s, PassShape pass)
    {
        pass.Validated();
        var gradient = pass.Gradient;
        var weights = WeightBytes(c, s);
        var common = CommonPassBytes(c, s, pass);
        var allLayers = gradient ? AllLayersPassBytes(c, s, pass) : 0;
        var bounded = gradient ? LayerBoundedPassBytes(c, s, pass) : 0;
        var compaction = CompactionBytes(c, s);
        return new StageNeed(
            RuntimeBytes + weights + Math.Max(common + allLayers, compaction),
            RuntimeBytes + weights + Math.Max(common + bounded, compaction),
            weights, RuntimeBytes);
    }

    /// <summary>Matrices at the held precision, norms and biases as fp32; a tied head counted once.</summary>
    public static long WeightBytes(LlamaConfig c, StageExtent s)
    {
        long bytes = 0, d = c.HiddenSize, v = c.VocabSize, e = s.MatrixElementBytes;
        for (var l = s.FirstLayer; l < s.EndLayer; l++)
        {
            var (matrices, vectors) = LayerParameters(c, l);
            bytes += e * matrices + 4 * vectors;
        }
        if (s.Embedding) bytes += e * v * d;
        if (s.Head)
        {
            bytes += 4 * d;
            if (!c.TieWordEmbeddings || !s.Embedding) bytes += e * v * d;
        }
        return bytes;
    }

    /// <summary>What every pass needs: the inference scratch tape, activations in flight, the head's temporaries, GEMM slabs.</summary>
    private static long CommonPassBytes(LlamaConfig c, StageExtent s, PassShape p)
    {
        long d = c.HiddenSize, v = c.VocabSize, t = p.Positions, n = p.MicroBatchTokens;
        var lmLoss = p.Objective == ObjectiveKind.LanguageModelLoss;
        var scratch = 4 * LayerTape.FullFloats(d, MaxHeads(c, s), MaxKvHeads(c, s), c.HeadDim, MaxFfn(c, s), Math.Min(p.MicroBatch, p.Sequences), t);
        // x for each micro-batch in flight and the one arriving; garbage of the previous ones until the GC runs.
        var activations = 4 * n * d * (2L * Math.Min(p.InFlight, p.MicroBatches) + 2);
        // Head: normed, dNormed, dx [n, D]; one sequence's logits (and their gradient for the LM loss) [T, V].
        var head = s.Head ? 4 * (3 * n * d + n + (lmLoss ? 2 : 1) * t * v + 2 * v) : 0;
        return scratch + activations + head + SlabBytes(c, s, lmLoss);
    }

    /// <summary>fp32 gradient accumulators for every layer, and a backward tape per micro-batch still waiting for its gradient.</summary>
    private static long AllLayersPassBytes(LlamaConfig c, StageExtent s, PassShape p)
    {
        long grads = 0, tapes = 0;
        var b = Math.Min(p.MicroBatch, p.Sequences);
        for (var l = s.FirstLayer; l < s.EndLayer; l++)
        {
            var (matrices, vectors) = LayerParameters(c, l);
            grads += 4 * (matrices + vectors);
            tapes += 4 * LayerTape.BackwardFloats(c.HiddenSize, c.HeadsOf(l), c.KvHeadsOf(l), c.HeadDim, c.FfnOf(l), b, p.Positions);
        }
        // The head runs each micro-batch's backward at once; an earlier stage keeps a tape per micro-batch in flight.
        var liveTapes = s.Head ? 1 : Math.Min(p.InFlight, p.MicroBatches);
        return grads + liveTapes * tapes;
    }

    /// <summary>
    /// Every layer's input for every micro-batch, the gradient at the stage's output for all of them (twice on a
    /// stage that receives it as one message), one layer's fp32 gradient, and one backward tape for the recompute.
    /// </summary>
    private static long LayerBoundedPassBytes(LlamaConfig c, StageExtent s, PassShape p)
    {
        long d = c.HiddenSize, maxLayer = 0;
        for (var l = s.FirstLayer; l < s.EndLayer; l++)
        {
            var (matrices, vectors) = LayerParameters(c, l);
            maxLayer = Math.Max(maxLayer, 4 * (matrices + vectors));
        }
        var inputs = 4 * s.Layers * p.Tokens * d;
        var gradients = 4 * p.Tokens * d * (s.Head ? 1 : 2);
        var tape = 4 * LayerTape.BackwardFloats(d, MaxHeads(c, s), MaxKvHeads(c, s), c.HeadDim, MaxFfn(c, s), Math.Min(p.MicroBatch, p.Sequences), p.Positions);
        return inputs + gradients + maxLayer + tape + 4 * p.MicroBatchTokens * d;
    }

    /// <summary>
    /// Compaction builds one part of compacted tensors at a time (the previous part is collected first): about
    /// <see cref="CompactionPartBytes"/> counted at 4 bytes an element, or one tensor when a tensor is larger, and never
    /// more than the stage's own matrices.
    /// </summary>
    private static long CompactionBytes(LlamaConfig c, StageExtent s)
    {
        long largest = 0, matrices = 0;
        for (var l = s.FirstLayer; l < s.EndLayer; l++)
        {
            largest = Math.Max(largest, (long)s.MatrixElementBytes * c.HiddenSize * Math.Max(c.FfnOf(l), c.HeadsOf(l) * c.HeadDim));
            matrices += s.MatrixElementBytes * LayerParameters(c, l).Matrices;
        }
        return Math.Min(matrices, Math.Max(CompactionPartBytes * s.MatrixElementBytes / 4, largest));
    }

    /// <summary>
    /// The fp32 scratch of the widest slab a 16-bit weight is widened into for OpenBLAS (<see cref="IGemm.SgemmWeight"/>):
    /// a few MiB, except the LM loss's backward through lm_head, whose k is the vocabulary.
    /// </summary>
    private static long SlabBytes(LlamaConfig c, StageExtent s, bool lmLoss)
    {
        if (s.MatrixElementBytes == 4) return 0;
        long d = c.HiddenSize, f = MaxFfn(c, s), v = c.VocabSize;
        long Slab(long cols, long k) => 4 * WeightSlabs.ScratchFloats((int)cols, (int)k);
        var layers = s.Layers > 0 ? Math.Max(Slab(f, d), Slab(d, f)) : 0;
        var head = s.Head ? (lmLoss ? Math.Max(Slab(v, d), Slab(d, v)) : Slab(v, d)) : 0;
        var embedding = s.Embedding ? Slab(v, d) : 0;
        return Math.Max(layers, Math.Max(head, embedding));
    }

    /// <summary>(elements of the layer's matrices, of its norms and biases).</summary>
    public static (long Matrices, long Vectors) LayerParameters(LlamaConfig c, int layer)
    {
        long d = c.HiddenSize, q = (long)c.HeadsOf(layer) * c.HeadDim, kv = (long)c.KvHeadsOf(layer) * c.HeadDim, f = c.FfnOf(layer);
        var matrices = 2 * q * d + 2 * kv * d + 3 * f * d;
        var vectors = 2 * d + (c.AttentionBias ? q + 2 * kv : 0) + (c.AttentionOutputBias ? d : 0);
        return (matrices, vectors);
    }

    private static int MaxHeads(LlamaConfig c, StageExtent s) => s.Layers == 0 ? 1 : Enumerable.Range(s.FirstLayer, s.Layers).Max(c.HeadsOf);
    private static int MaxKvHeads(LlamaConfig c, StageExtent s) => s.Layers == 0 ? 1 : Enumerable.Range(s.FirstLayer, s.Layers).Max(c.KvHeadsOf);
    private static int MaxFfn(LlamaConfig c, StageExtent s) => s.Layers == 0 ? 1 : Enumerable.Range(s.FirstLayer, s.Layers).Max(c.FfnOf);
}
