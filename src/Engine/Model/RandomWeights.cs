using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Engine.Model;

/// <summary>Seeded random shards for tests and benchmarks: Gaussian projections, norms near one.</summary>
public static class RandomWeights
{
    /// <param name="storage">dtype the matrices are held as; values are drawn in fp32 and rounded to it (norms and biases stay fp32)</param>
    public static LlamaShard Create(LlamaConfig config, int seed, int firstLayer = 0, int endLayer = -1,
        bool embedding = true, bool head = true, float std = 0.02f, DType storage = DType.F32)
    {
        if (endLayer < 0) endLayer = config.NumHiddenLayers;
        var rng = new Random(seed);
        var layers = new List<LayerWeights>();
        for (var i = firstLayer; i < endLayer; i++)
        {
            var layer = LayerWeights.ForConfig(config, i, storage);
            foreach (var (name, data, _) in layer.Tensors())
            {
                if (name.EndsWith("layernorm.weight", StringComparison.Ordinal)) Fill(rng, data, 1f, 0.1f);
                else Fill(rng, data, 0f, name.EndsWith(".bias", StringComparison.Ordinal) ? 0.1f : std);
            }
            layers.Add(layer);
        }
        WeightMatrix? embed = null, lmHead = null;
        float[]? norm = null;
        if (embedding || (head && config.TieWordEmbeddings))
        {
            embed = WeightMatrix.Allocate(storage, config.VocabSize, config.HiddenSize);
            Fill(rng, embed, 0f, std * 10);
        }
        if (head)
        {
            norm = new float[config.HiddenSize];
            Fill(rng, norm, 1f, 0.1f);
            if (config.TieWordEmbeddings) lmHead = embed;
            else
            {
                lmHead = WeightMatrix.Allocate(storage, config.VocabSize, config.HiddenSize);
                Fill(rng, lmHead, 0f, std * 10);
            }
        }
        return new LlamaShard(config, firstLayer, layers, embedding ? embed : null, norm, lmHead);
    }

    /// <summary>Draws fp32 values (the same stream for any dtype) and stores them rounded to the matrix's dtype.</summary>
    public static void Fill(Random rng, WeightMatrix data, float mean, float std)
    {
        if (data.IsSingle)
        {
            Fill(rng, data.Single, mean, std);
            return;
        }
        var chunk = new float[Math.Min(1 << 16, Math.Max(1L, data.Length))];
        for (long done = 0; done < data.Length;)
        {
            var count = (int)Math.Min(chunk.Length, data.Length - done);
            Fill(rng, chunk.AsSpan(0, count), mean, std);
            data.SetFromSingle(done, chunk.AsSpan(0, count));
            done += count;
        }
    }

    public static void Fill(Random rng, Span<float> data, float mean, float std)
    {
        for (var i = 0; i < data.Length; i++)
        {
            // Box-Muller: two uniforms give one standard normal.
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            data[i] = mean + std * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }
}
