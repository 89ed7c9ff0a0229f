namespace NirvanaCluster.Pruning.Saliency;

/// <summary>Unit saliencies of one layer: one per KV group (attention unit) and one per MLP neuron.</summary>
public sealed record LayerScores(int Layer, double[] Attention, double[] Mlp);
