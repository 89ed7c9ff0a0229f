using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;

namespace NirvanaCluster.Pruning.Saliency;

/// <summary>
/// Reduces element saliencies S(W_ij) = |dW_ij * W_ij| (or |W_ij| for magnitude) to unit scores (NIRVANA.md
/// section 2): an MLP neuron i sums row i of gate_proj and up_proj and column i of down_proj; a KV group g sums
/// the rows of its G query heads, its K and V heads, and the matching o_proj columns. Biases do not count.
/// </summary>
public static class UnitSaliency
{
    public static LayerScores Score(LayerWeights w, LayerGradients? grad, PruningMethod method, int seed)
    {
        if (method == PruningMethod.Random) return RandomScores(w, seed);
        if (method.NeedsGradients() && grad is null) throw new ArgumentException($"method {method.Name()} needs gradients for layer {w.Index}");
        var g = method.NeedsGradients() ? grad : null;
        int d = w.Hidden, dh = w.HeadDim, groupSize = w.Heads / w.KvHeads, f = w.Ffn;

        var row = new float[d]; // one weight row widened to fp32 at a time
        var mlp = new double[f];
        for (var i = 0; i < f; i++)
            mlp[i] = RowSum(w.GateProj, g?.GateProj, i * d, d, row) + RowSum(w.UpProj, g?.UpProj, i * d, d, row);
        ColumnSums(w.DownProj, g?.DownProj, rows: d, columns: f, columnGroup: 1, mlp);

        var attention = new double[w.KvHeads];
        var qRows = groupSize * dh;
        for (var group = 0; group < w.KvHeads; group++)
        {
            double s = 0;
            for (var r = group * qRows; r < (group + 1) * qRows; r++) s += RowSum(w.QProj, g?.QProj, r * d, d, row);
            for (var r = group * dh; r < (group + 1) * dh; r++)
                s += RowSum(w.KProj, g?.KProj, r * d, d, row) + RowSum(w.VProj, g?.VProj, r * d, d, row);
            attention[group] = s;
        }
        ColumnSums(w.OProj, g?.OProj, rows: d, columns: w.Heads * dh, columnGroup: qRows, attention);
        return new LayerScores(w.Index, attention, mlp);
    }

    /// <summary>Random scores depend only on the seed and the layer index, never on how layers are placed.</summary>
    private static LayerScores RandomScores(LayerWeights w, int seed)
    {
        var rng = new Random(HashCode.Combine(seed, w.Index, 0x5eed));
        return new LayerScores(w.Index,
            Enumerable.Range(0, w.KvHeads).Select(_ => rng.NextDouble()).ToArray(),
            Enumerable.Range(0, w.Ffn).Select(_ => rng.NextDouble()).ToArray());
    }

    /// <summary>Sum over one row of |W| (or |W * dW|); the row is widened to fp32 first (exact), so the sum is the fp32-held one.</summary>
    private static double RowSum(WeightMatrix weight, float[]? grad, int offset, int length, Span<float> scratch)
    {
        var ws = scratch[..length];
        weight.ToSingle(offset, length, ws);
        double s = 0;
        if (grad is null)
            foreach (var x in ws) s += Math.Abs(x);
        else
        {
            var gs = grad.AsSpan(offset, length);
            for (var j = 0; j < ws.Length; j++) s += Math.Abs(ws[j] * gs[j]);
        }
        return s;
    }

    /// <summary>scores[c / columnGroup] += sum over rows of |W[r, c] (* dW[r, c])|.</summary>
    private static void ColumnSums(WeightMatrix weight, float[]? grad, int rows, int columns, int columnGroup, double[] scores)
    {
        var perColumn = new double[columns];
        var ws = new float[columns];
        for (var r = 0; r < rows; r++)
        {
            weight.RowsToSingle(r, 1, ws);
            if (grad is null)
                for (var c = 0; c < columns; c++) perColumn[c] += Math.Abs(ws[c]);
            else
            {
                var gs = grad.AsSpan(r * columns, columns);
                for (var c = 0; c < columns; c++) perColumn[c] += Math.Abs(ws[c] * gs[c]);
            }
        }
        for (var c = 0; c < columns; c++) scores[c / columnGroup] += perColumn[c];
    }
}
