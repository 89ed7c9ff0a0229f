using YamlDotNet.RepresentationModel;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>Null-tolerant navigation of a YAML tree: a missing key reads as null, so a check can say what was missing.</summary>
internal static class YamlNodeExtensions
{
    public static YamlNode? Get(this YamlNode? node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    public static YamlNode? At(this YamlNode? node, params string[] path) =>
        path.Aggregate(node, (current, key) => current.Get(key));

    /// <summary>The scalar's text; null for a missing node, an explicit null, or a non-scalar.</summary>
    public static string? AsString(this YamlNode? node) =>
        node is YamlScalarNode { Value: { } value } scalar && !(scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && value is "" or "~" or "null")
            ? value : null;

    public static IReadOnlyList<YamlNode> Items(this YamlNode? node) =>
        node is YamlSequenceNode sequence ? sequence.Children.ToList() : [];

    public static IReadOnlyList<string> Strings(this YamlNode? node) =>
        node.Items().Select((item, i) => item.AsString() ?? throw new InvalidDataException($"item {i} is not a scalar")).ToList();

    /// <summary>A mapping of scalars, such as labels or a selector.</summary>
    public static IReadOnlyDictionary<string, string> StringMap(this YamlNode? node) =>
        node is YamlMappingNode map
            ? map.Children.ToDictionary(kv => kv.Key.AsString() ?? "", kv => kv.Value.AsString() ?? "")
            : new Dictionary<string, string>();

    public static IReadOnlyList<string> Keys(this YamlNode? node) =>
        node is YamlMappingNode map ? map.Children.Keys.Select(k => k.AsString() ?? "").ToList() : [];
}
