using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>
/// Resolves --model: a folder, or (omitted) the default model, fetched and converted on first use. The default model
/// passed by its path (or a copy of it) counts as the default, so its defaults (calibration 'generated') apply.
/// </summary>
public static class ModelLocator
{
    public static string Resolve(string? model, out bool isDefault, string flag = "--model")
    {
        isDefault = model is null;
        if (model is null) return Engine.Assets.DefaultModel.Ensure();
        if (File.Exists(model)) throw new ArgumentException($"{flag}: '{model}' is a file; expected a Hugging Face model folder (holding config.json)");
        if (!Directory.Exists(model)) throw new ArgumentException($"{flag}: folder '{model}' does not exist");
        if (!File.Exists(Path.Combine(model, ConfigJson.FileName))) throw new ArgumentException($"{flag}: '{model}' has no config.json; expected a Hugging Face model folder");
        isDefault = Engine.Assets.DefaultModel.IsDefault(model);
        return model;
    }

    public static string Resolve(string? model, string flag = "--model") => Resolve(model, out _, flag);
}
