using System.Globalization;
using System.Runtime.InteropServices;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Pruning.Saliency;

namespace NirvanaCluster.Pruning.Sweep;

/// <summary>
/// scores.safetensors: per layer i, <c>model.layers.{i}.attention_scores</c> [Hkv] and <c>model.layers.{i}.mlp_scores</c>
/// [F], F64 so that a plan made from them again is bit-identical; the metadata records the format, criterion, seed,
/// calibration, the model's identity and the objective's value. Reading checks all of it against the job at hand.
/// </summary>
public static class ScoresFile
{
    public const string FileName = "scores.safetensors";
    public const string Format = "nirvana-unit-scores";
    public const string Version = "1";

    public static void Write(string path, ScoreSet scores)
    {
        var tensors = new List<(string, long[], double[])>();
        foreach (var l in scores.Layers)
        {
            tensors.Add(($"model.layers.{l.Layer}.attention_scores", [l.Attention.Length], l.Attention));
            tensors.Add(($"model.layers.{l.Layer}.mlp_scores", [l.Mlp.Length], l.Mlp));
        }
        var inv = CultureInfo.InvariantCulture;
        var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = Format,
            ["version"] = Version,
            ["method"] = scores.Method.Name(),
            ["seed"] = scores.Seed.ToString(inv),
            ["calibration"] = scores.Calibration,
            ["layers"] = scores.Layers.Count.ToString(inv),
            ["model_config_sha256"] = scores.Model.ConfigSha256,
            ["model_weights_sha256"] = scores.Model.WeightsSha256,
        };
        if (scores.Objective is { } objective) metadata["objective"] = objective.ToString("R", inv);
        SafeTensorsWriter.WriteFloat64(path, tensors, metadata);
    }

    /// <summary>
    /// Reads scores for <paramref name="config"/>'s model, refusing (naming the file, field and flag) a file of another
    /// format, model or criterion, or with shapes that do not fit the model.
    /// </summary>
    public static ScoreSet Read(string path, LlamaConfig config, ModelIdentity model, PruningMethod method)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--scores: file '{path}' does not exist");
        using var file = SafeTensorsFile.Open(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"--scores: {path} has no '{key}' in its metadata; it was not written by nirvana prune");
        if (Meta("format") != Format) throw new InvalidDataException($"--scores: {path} is not a unit-scores file (metadata format '{Meta("format")}', expected '{Format}')");
        if (Meta("version") != Version) throw new InvalidDataException($"--scores: {path} has version {Meta("version")}, this program reads version {Version}");
        var saved = PruningMethods.Parse(Meta("method"));
        if (saved != method)
            throw new ArgumentException($"--scores: {path} holds {saved.Name()} scores, but --method is {method.Name()}; pass --method {saved.Name()} or score again");
        if (Meta("model_config_sha256") != model.ConfigSha256 || Meta("model_weights_sha256") != model.WeightsSha256)
            throw new ArgumentException($"--scores: {path} was computed for another model (config.json sha256 {Meta("model_config_sha256")[..12]}..., " +
                                        $"weights {Meta("model_weights_sha256")[..12]}...; this model: {model.ConfigSha256[..12]}..., {model.WeightsSha256[..12]}...)");
        var layers = new LayerScores[config.NumHiddenLayers];
        for (var i = 0; i < layers.Length; i++)
            layers[i] = new LayerScores(i, Vector(file, path, $"model.layers.{i}.attention_scores", config.KvHeadsOf(i)),
                Vector(file, path, $"model.layers.{i}.mlp_scores", config.FfnOf(i)));
        if (file.Tensors.Count != 2 * layers.Length)
            throw new InvalidDataException($"--scores: {path} holds {file.Tensors.Count} tensors, the model's {layers.Length} layers need {2 * layers.Length}");
        double? objective = file.Metadata.TryGetValue("objective", out var o) ? double.Parse(o, CultureInfo.InvariantCulture) : null;
        return new ScoreSet(layers, saved, int.Parse(Meta("seed"), CultureInfo.InvariantCulture), Meta("calibration"), model, objective);
    }

    private static double[] Vector(SafeTensorsFile file, string path, string name, int length)
    {
        if (!file.Tensors.TryGetValue(name, out var info)) throw new InvalidDataException($"--scores: {path} has no tensor '{name}'");
        if (info.DType != DType.F64 || info.Shape.Length != 1 || info.Shape[0] != length)
            throw new InvalidDataException($"--scores: {path} tensor '{name}' is {info.DType.SafeTensorsName()} {TensorInfo.FormatShape(info.Shape)}, expected F64 [{length}]");
        var values = new double[length];
        file.ReadBytes(name, MemoryMarshal.AsBytes(values.AsSpan()));
        foreach (var v in values)
            if (!double.IsFinite(v)) throw new InvalidDataException($"--scores: {path} tensor '{name}' holds {v}");
        return values;
    }
}
