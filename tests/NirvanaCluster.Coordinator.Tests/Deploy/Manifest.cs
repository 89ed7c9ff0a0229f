using YamlDotNet.RepresentationModel;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>One YAML document of a file under deploy/k8s.</summary>
public sealed record Manifest(string File, int Document, YamlMappingNode Root)
{
    public string? ApiVersion => Root.Get("apiVersion").AsString();
    public string? Kind => Root.Get("kind").AsString();
    public string? Name => Root.At("metadata", "name").AsString();

    /// <summary>The pod template's spec of a workload (StatefulSet, Job, Deployment).</summary>
    public YamlNode? PodSpec => Root.At("spec", "template", "spec");
    public IReadOnlyDictionary<string, string> PodLabels => Root.At("spec", "template", "metadata", "labels").StringMap();
    public IReadOnlyList<Container> Containers => PodSpec.Get("containers").Items().Select(c => new Container(this, c)).ToList();

    public Container SingleContainer =>
        Containers is [var only] ? only : throw new InvalidDataException($"{this}: expected one container, found {Containers.Count}");

    public override string ToString() => $"{File} ({Kind} {Name})";
}
