namespace NirvanaCluster.Coordinator.Cli;

/// <summary>Checks a path given for an input file, telling "does not exist" apart from "is a folder".</summary>
public static class InputFile
{
    public static void Require(string path, string flag, string hint = "")
    {
        if (File.Exists(path)) return;
        var suffix = hint.Length > 0 ? " " + hint : "";
        if (Directory.Exists(path)) throw new ArgumentException($"{flag}: '{path}' is a folder; a file is expected here{suffix}");
        throw new ArgumentException($"{flag}: file '{path}' does not exist{suffix}");
    }
}
