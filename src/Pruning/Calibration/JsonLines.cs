using System.Text.Json;

namespace NirvanaCluster.Pruning.Calibration;

/// <summary>Reads JSONL (one JSON value per non-blank line); errors name the file and line.</summary>
public static class JsonLines
{
    public static List<T> Read<T>(string path, Func<JsonElement, T> parse)
    {
        RequireFile(path, "file");
        var items = new List<T>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                items.Add(parse(doc.RootElement));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: invalid JSON: {e.Message}", e);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: {e.Message}", e);
            }
        }
        return items;
    }

    /// <summary>A required string field, or an InvalidDataException naming it.</summary>
    public static string RequiredString(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw new InvalidDataException($"field '{name}' must be a string");

    /// <summary>An input file must exist and be a file: a folder given instead is named as such, not as missing.</summary>
    public static void RequireFile(string path, string kind)
    {
        if (File.Exists(path)) return;
        if (Directory.Exists(path)) throw new FileNotFoundException($"{kind} {path} is a folder, not a file", path);
        throw new FileNotFoundException($"{kind} {path} does not exist", path);
    }
}
