using NirvanaCluster.Engine.Model;

namespace NirvanaCluster.Benchmarks.Model;

/// <summary>
/// An inference forward of a whole model over tokens[B*T] with buffers allocated once: embedding, every layer
/// (scratch tape, no activations kept), final norm and logits[B*T, V] for all positions at once.
/// </summary>
public sealed class InferenceForward
{
    private readonly LlamaShard _model;
    private readonly int[] _tokens;
    private readonly int _batch, _positions;
    private readonly float[] _x, _normed, _logits;
    private readonly LayerTape _scratch;

    public InferenceForward(LlamaShard model, int[] tokens, int batch, int positions)
    {
        if (!model.HasEmbedding || !model.HasHead) throw new ArgumentException("the inference forward needs a whole model (embedding and head)", nameof(model));
        if (tokens.Length != batch * positions) throw new ArgumentException($"expected B*T = {batch}*{positions} tokens, got {tokens.Length}", nameof(tokens));
        _model = model;
        _tokens = tokens;
        _batch = batch;
        _positions = positions;
        var rows = batch * positions;
        _x = new float[rows * model.Hidden];
        _normed = new float[rows * model.Hidden];
        _logits = new float[(long)rows * model.Vocab <= Array.MaxLength ? rows * model.Vocab
            : throw new ArgumentException($"logits of B*T = {rows} rows by V = {model.Vocab} exceed one array; use a smaller batch")];
        _scratch = model.CreateScratch(batch, positions);
    }

    public ReadOnlySpan<float> Logits => _logits;

    public void Run()
    {
        var rows = _batch * _positions;
        _model.Embed(_x, _tokens);
        _model.ForwardLayers(_x, _batch, _positions, scratch: _scratch);
        _model.FinalNormForward(_normed, default, _x, rows);
        _model.Logits(_logits, _normed, rows);
    }
}
