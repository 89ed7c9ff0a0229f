using System.Text;
using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Engine.Tests.Assets;

/// <summary>
/// End to end: the converted stories15M, run by a naive Hugging Face-style forward pass written here (rotate-half
/// rotary, tied lm_head), must continue "Once upon a time" greedily as llama2.c does. Wrong q/k permutation,
/// a mis-mapped w1/w3 or a shifted array would all change the text.
/// </summary>
public class Stories15MGenerationTests
{
    [Fact]
    public void Greedy_generation_from_the_converted_model_tells_the_known_story()
    {
        var dir = DefaultModel.Ensure();
        var pieces = ReadTokenizerPieces(Path.Combine(dir, DefaultModel.TokenizerFileName));
        int Id(string piece) => Array.IndexOf(pieces, piece) is var i and >= 0 ? i : throw new InvalidOperationException($"no piece '{piece}'");
        int[] prompt = [1, Id(" Once"), Id(" upon"), Id(" a"), Id(" time")]; // llama2.c's pieces carry their leading space

        using var checkpoint = Checkpoint.Open(dir);
        var model = new ReferenceLlama(checkpoint);
        float[] logits = [];
        for (var pos = 0; pos < prompt.Length; pos++) logits = model.Forward(prompt[pos], pos);
        var text = new StringBuilder();
        for (var pos = prompt.Length; pos < prompt.Length + 12; pos++)
        {
            var next = Array.IndexOf(logits, logits.Max());
            text.Append(pieces[next]);
            logits = model.Forward(next, pos);
        }
        Assert.StartsWith(", there was a little girl named Lily", text.ToString());
    }

    /// <summary>llama2.c tokenizer.bin: int32 max piece length, then per piece: float score, int32 length, UTF-8 bytes.</summary>
    private static string[] ReadTokenizerPieces(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        reader.ReadInt32();
        var pieces = new string[32000];
        for (var i = 0; i < pieces.Length; i++)
        {
            reader.ReadSingle();
            pieces[i] = Encoding.UTF8.GetString(reader.ReadBytes(reader.ReadInt32()));
        }
        return pieces;
    }

    /// <summary>A plain, slow Llama decoder over a Hugging Face checkpoint, one token at a time with a KV cache.</summary>
    private sealed class ReferenceLlama
    {
        private readonly LlamaConfig c;
        private readonly float[] embed, finalNorm;
        private readonly Layer[] layers;

        private sealed record Layer(float[] AttnNorm, float[] Q, float[] K, float[] V, float[] O, float[] FfnNorm,
            float[] Gate, float[] Up, float[] Down, List<float[]> Keys, List<float[]> Values);

        public ReferenceLlama(Checkpoint checkpoint)
        {
            c = checkpoint.Config;
            long d = c.HiddenSize, f = c.IntermediateSize, kv = c.NumKeyValueHeads * c.HeadDim;
            embed = checkpoint.ReadFloat32("model.embed_tokens.weight", c.VocabSize, d);
            finalNorm = checkpoint.ReadFloat32("model.norm.weight", d);
            layers = Enumerable.Range(0, c.NumHiddenLayers).Select(l =>
            {
                var p = $"model.layers.{l}.";
                return new Layer(
                    checkpoint.ReadFloat32(p + "input_layernorm.weight", d),
                    checkpoint.ReadFloat32(p + "self_attn.q_proj.weight", d, d),
                    checkpoint.ReadFloat32(p + "self_attn.k_proj.weight", kv, d),
                    checkpoint.ReadFloat32(p + "self_attn.v_proj.weight", kv, d),
                    checkpoint.ReadFloat32(p + "self_attn.o_proj.weight", d, d),
                    checkpoint.ReadFloat32(p + "post_attention_layernorm.weight", d),
                    checkpoint.ReadFloat32(p + "mlp.gate_proj.weight", f, d),
                    checkpoint.ReadFloat32(p + "mlp.up_proj.weight", f, d),
                    checkpoint.ReadFloat32(p + "mlp.down_proj.weight", d, f),
                    [], []);
            }).ToArray();
        }

        public float[] Forward(int token, int pos)
        {
            int d = c.HiddenSize, dh = c.HeadDim, group = c.GroupSize;
            var x = embed.AsSpan(token * d, d).ToArray();
            foreach (var layer in layers)
            {
                var h = RmsNorm(x, layer.AttnNorm);
                var q = MatVec(layer.Q, h);
                var k = MatVec(layer.K, h);
                Rotate(q, pos, dh);
                Rotate(k, pos, dh);
                layer.Keys.Add(k);
                layer.Values.Add(MatVec(layer.V, h));
                var attention = new float[d];
                for (var head = 0; head < c.NumAttentionHeads; head++)
                {
                    var kvHead = head / group;
                    var scores = layer.Keys.Select(key => Enumerable.Range(0, dh).Sum(i => (double)q[head * dh + i] * key[kvHead * dh + i]) / Math.Sqrt(dh)).ToArray();
                    var max = scores.Max();
                    var weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                    var total = weights.Sum();
                    for (var t = 0; t < weights.Length; t++)
                        for (var i = 0; i < dh; i++)
                            attention[head * dh + i] += (float)(weights[t] / total * layer.Values[t][kvHead * dh + i]);
                }
                Add(x, MatVec(layer.O, attention));
                h = RmsNorm(x, layer.FfnNorm);
                var gate = MatVec(layer.Gate, h);
                var up = MatVec(layer.Up, h);
                for (var i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + MathF.Exp(-gate[i])) * up[i];
                Add(x, MatVec(layer.Down, gate));
            }
            return MatVec(embed, RmsNorm(x, finalNorm)); // tied lm_head
        }

        private float[] RmsNorm(float[] x, float[] gain)
        {
            var scale = 1 / Math.Sqrt(x.Sum(v => (double)v * v) / x.Length + c.RmsNormEps);
            return x.Select((v, i) => (float)(v * scale * gain[i])).ToArray();
        }

        /// <summary>Hugging Face rotate-half: pairs (i, i + Dh/2) of each head turn by pos * theta^(-2i/Dh).</summary>
        private void Rotate(float[] v, int pos, int dh)
        {
            for (var head = 0; head < v.Length / dh; head++)
                for (var i = 0; i < dh / 2; i++)
                {
                    var angle = pos * Math.Pow(c.RopeTheta, -2.0 * i / dh);
                    var (a, b) = (v[head * dh + i], v[head * dh + i + dh / 2]);
                    v[head * dh + i] = (float)(a * Math.Cos(angle) - b * Math.Sin(angle));
                    v[head * dh + i + dh / 2] = (float)(b * Math.Cos(angle) + a * Math.Sin(angle));
                }
        }

        private static float[] MatVec(float[] w, float[] x)
        {
            var rows = w.Length / x.Length;
            var y = new float[rows];
            for (var r = 0; r < rows; r++)
            {
                var sum = 0.0;
                var row = w.AsSpan(r * x.Length, x.Length);
                for (var i = 0; i < x.Length; i++) sum += row[i] * x[i];
                y[r] = (float)sum;
            }
            return y;
        }

        private static void Add(float[] x, float[] y)
        {
            for (var i = 0; i < x.Length; i++) x[i] += y[i];
        }
    }
}
