using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>The repository's deploy/ folder, found from the test's output folder, and its manifests parsed once.</summary>
public static class DeployTree
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();
    public static string K8sFolder => Path.Combine(RepositoryRoot, "deploy", "k8s");
    public static string DockerFolder => Path.Combine(RepositoryRoot, "deploy", "docker");

    /// <summary>Every YAML file under deploy/k8s (subfolders included), as paths relative to it with '/' separators.</summary>
    public static IReadOnlyList<string> K8sFiles { get; } =
        Directory.EnumerateFiles(K8sFolder, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(K8sFolder, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();

    private static readonly Lazy<IReadOnlyList<Manifest>> manifests = new(() => K8sFiles.SelectMany(Load).ToList());

    public static IReadOnlyList<Manifest> Manifests => manifests.Value;

    /// <summary>The one document of a file; the base keeps one object per file.</summary>
    public static Manifest File(string relativePath)
    {
        var found = Manifests.Where(m => m.File == relativePath).ToList();
        return found is [var only] ? only
            : throw new InvalidDataException($"deploy/k8s/{relativePath}: expected exactly one YAML document, found {found.Count}");
    }

    private static IEnumerable<Manifest> Load(string relativePath)
    {
        var path = Path.Combine(K8sFolder, relativePath);
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"deploy/k8s/{relativePath}: not valid YAML at {e.Start}: {e.Message}", e);
        }
        for (var i = 0; i < stream.Documents.Count; i++)
            yield return stream.Documents[i].RootNode is YamlMappingNode root
                ? new Manifest(relativePath, i, root)
                : throw new InvalidDataException($"deploy/k8s/{relativePath}: document {i} is not a mapping (expected a Kubernetes object)");
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "NirvanaCluster.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no folder above {AppContext.BaseDirectory} holds NirvanaCluster.sln");
    }
}
