using YamlDotNet.RepresentationModel;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>A container of a workload manifest, with the look-ups the checks share.</summary>
public sealed record Container(Manifest Owner, YamlNode Node)
{
    public string Name => Node.Get("name").AsString() ?? "(unnamed)";
    public IReadOnlyList<string> Args => Node.Get("args").Strings();
    public IReadOnlyList<string> Command => Node.Get("command").Strings();
    public IReadOnlyList<YamlNode> Env => Node.Get("env").Items();
    public IReadOnlyList<string> EnvNames => Env.Select(e => e.Get("name").AsString() ?? "").ToList();
    public YamlNode? EnvVar(string name) => Env.FirstOrDefault(e => e.Get("name").AsString() == name);
    public IReadOnlyList<YamlNode> VolumeMounts => Node.Get("volumeMounts").Items();
    public YamlNode? MountAt(string path) => VolumeMounts.FirstOrDefault(m => m.Get("mountPath").AsString() == path);

    /// <summary>containerPort by its port name.</summary>
    public IReadOnlyDictionary<string, int> NamedPorts =>
        Node.Get("ports").Items().Where(p => p.Get("name") is not null)
            .ToDictionary(p => p.Get("name").AsString()!, p => int.Parse(p.Get("containerPort").AsString()!));

    /// <summary>A probe's or a Service's targetPort: a number, or the name of one of this container's ports.</summary>
    public int ResolvePort(YamlNode? port)
    {
        var text = port.AsString() ?? throw new InvalidDataException($"{this}: a port is missing");
        if (int.TryParse(text, out var number)) return number;
        return NamedPorts.TryGetValue(text, out var named) ? named
            : throw new InvalidDataException($"{this}: port name '{text}' is not one of the container's ports ({string.Join(", ", NamedPorts.Keys)})");
    }

    /// <summary>The argument after <paramref name="flag"/>; null when the flag is absent.</summary>
    public string? ArgValue(string flag)
    {
        var i = Args.ToList().IndexOf(flag);
        return i < 0 ? null : i + 1 < Args.Count ? Args[i + 1] : throw new InvalidDataException($"{this}: {flag} is the last argument and has no value");
    }

    /// <summary>Whether the resources' limits (or requests) name this resource, e.g. nvidia.com/gpu.</summary>
    public string? Limit(string resource) => Node.At("resources", "limits").Get(resource).AsString();
    public string? Request(string resource) => Node.At("resources", "requests").Get(resource).AsString();

    public override string ToString() => $"{Owner}, container {Name}";
}
