using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>What a test cluster holds that the manifests refer to: the namespace, the ConfigMap, the claim, the Secret.</summary>
public sealed record PodWorld(string Namespace, Manifest ConfigMap, string ClaimName, string ClaimRoot,
    string SecretName, IReadOnlyDictionary<string, byte[]> SecretData, string Scratch);

/// <summary>
/// A workload's container as the kubelet would start it, on this machine: its environment resolved (fieldRef,
/// configMapKeyRef, resourceFieldRef, values), <c>$(VAR)</c> expanded in args and env, each volume made in a folder
/// (the claim's subPath under one shared folder, an emptyDir fresh, a secret volume laid out the way the kubelet
/// lays it out), and the program the image's ENTRYPOINT runs. Nothing can be mounted here, so an argument or
/// variable naming a path under a mountPath is pointed at that volume's folder; a path outside every mount is left
/// as it is and so fails as it would in the pod.
/// </summary>
public sealed partial record PodLaunch(string PodName, string Dll, IReadOnlyList<string> Args, IReadOnlyDictionary<string, string> Environment)
{
    public static PodLaunch Prepare(Manifest workload, string podName, PodWorld world)
    {
        var container = workload.SingleContainer;
        if (container.Command.Count > 0) throw new InvalidDataException($"{container}: a command replaces the image's ENTRYPOINT");

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in container.Env)
        {
            var name = variable.Get("name").AsString()!;
            env[name] = Resolve(variable, container, podName, world, env);
        }
        var args = container.Args.Select(a => Expand(a, env)).ToList();

        var folders = new List<(string MountPath, string Folder)>();
        foreach (var mount in container.VolumeMounts)
        {
            var volumeName = mount.Get("name").AsString()!;
            var volume = workload.PodSpec.Get("volumes").Items().SingleOrDefault(v => v.Get("name").AsString() == volumeName)
                ?? throw new InvalidDataException($"{container}: mounts volume '{volumeName}', which the pod does not define");
            folders.Add((mount.Get("mountPath").AsString()!, Materialize(volume, mount.Get("subPath").AsString(), podName, world)));
        }
        // The longest mount path first, so that /data/models wins over a /data mount.
        folders.Sort((a, b) => b.MountPath.Length.CompareTo(a.MountPath.Length));
        string Remap(string value)
        {
            foreach (var (mountPath, folder) in folders)
                if (value == mountPath || value.StartsWith(mountPath + "/", StringComparison.Ordinal)) return folder + value[mountPath.Length..];
            return value;
        }
        return new PodLaunch(podName, EntryPoint(container.Node.Get("image").AsString()!),
            args.Select(Remap).ToList(), env.ToDictionary(kv => kv.Key, kv => Remap(kv.Value)));
    }

    private static string Resolve(YamlNode variable, Container container, string podName, PodWorld world, Dictionary<string, string> defined)
    {
        var name = variable.Get("name").AsString();
        if (variable.Get("value").AsString() is { } value) return Expand(value, defined);
        var from = variable.Get("valueFrom") ?? throw new InvalidDataException($"{container}: env {name} has neither value nor valueFrom");
        if (from.Get("fieldRef") is { } field)
            return field.Get("fieldPath").AsString() switch
            {
                "metadata.name" => podName,
                "metadata.namespace" => world.Namespace,
                var other => throw new NotSupportedException($"{container}: env {name}: fieldRef {other} is not emulated"),
            };
        if (from.Get("configMapKeyRef") is { } configKey)
        {
            if (configKey.Get("name").AsString() != world.ConfigMap.Name)
                throw new InvalidDataException($"{container}: env {name} reads ConfigMap '{configKey.Get("name").AsString()}', which does not exist");
            var key = configKey.Get("key").AsString()!;
            return world.ConfigMap.Root.At("data", key).AsString()
                ?? throw new InvalidDataException($"{container}: env {name} reads key '{key}', which ConfigMap {world.ConfigMap.Name} lacks");
        }
        if (from.Get("resourceFieldRef") is { } resourceField)
        {
            if (resourceField.Get("containerName").AsString() is { } other && other != container.Name)
                throw new InvalidDataException($"{container}: env {name} reads the resources of container '{other}'");
            if (resourceField.Get("divisor") is not null) throw new NotSupportedException($"{container}: env {name}: a divisor is not emulated");
            var resource = resourceField.Get("resource").AsString()!;
            var parts = resource.Split('.', 2);
            var quantity = (parts[0] == "requests" ? container.Request(parts[1]) : container.Limit(parts[1]))
                ?? throw new InvalidDataException($"{container}: env {name} reads {resource}, which the container does not set");
            return parts[1] switch
            {
                "memory" => Quantity.Bytes(quantity).ToString(CultureInfo.InvariantCulture),
                "cpu" => Quantity.Cores(quantity).ToString(CultureInfo.InvariantCulture),
                _ => throw new NotSupportedException($"{container}: env {name}: resource {resource} is not emulated"),
            };
        }
        throw new NotSupportedException($"{container}: env {name}: {string.Join(", ", from.Keys())} is not emulated");
    }

    /// <summary>The kubelet's expansion: $(VAR) of a defined variable is replaced, $$ is a literal $, anything else stays.</summary>
    public static string Expand(string text, IReadOnlyDictionary<string, string> env)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '$') { result.Append('$'); i++; continue; }
            if (text[i] == '$' && i + 1 < text.Length && text[i + 1] == '(' && text.IndexOf(')', i + 2) is var close and > 0
                && env.TryGetValue(text[(i + 2)..close], out var value))
            {
                result.Append(value);
                i = close;
                continue;
            }
            result.Append(text[i]);
        }
        return result.ToString();
    }

    private static string Materialize(YamlNode volume, string? subPath, string podName, PodWorld world)
    {
        var name = volume.Get("name").AsString()!;
        if (volume.At("persistentVolumeClaim", "claimName").AsString() is { } claim)
        {
            if (claim != world.ClaimName) throw new InvalidDataException($"volume {name}: claim '{claim}' does not exist");
            return Directory.CreateDirectory(Path.Combine(world.ClaimRoot, subPath ?? "")).FullName;
        }
        if (subPath is not null) throw new NotSupportedException($"volume {name}: subPath is emulated for claims only");
        var folder = Path.Combine(world.Scratch, podName, name);
        if (volume.Get("emptyDir") is not null) return Directory.CreateDirectory(folder).FullName;
        if (volume.Get("secret") is { } secret)
        {
            var secretName = secret.Get("secretName").AsString();
            if (secretName != world.SecretName) throw new InvalidDataException($"volume {name}: Secret '{secretName}' does not exist");
            var items = secret.Get("items").Items();
            var files = items.Count == 0
                ? world.SecretData.Keys.Select(k => (Key: k, Path: k, Mode: (string?)null)).ToList()
                : items.Select(i => (Key: i.Get("key").AsString()!, Path: i.Get("path").AsString()!, Mode: i.Get("mode").AsString())).ToList();
            var defaultMode = secret.Get("defaultMode").AsString() ?? "0644";
            SecretVolume.Write(folder, files.Select(f => (f.Path,
                world.SecretData.TryGetValue(f.Key, out var bytes) ? bytes : throw new InvalidDataException($"volume {name}: Secret {secretName} has no key '{f.Key}'"),
                CertificateManifestTests.FileMode(f.Mode ?? defaultMode))).ToList());
            return folder;
        }
        throw new NotSupportedException($"volume {name}: {string.Join(", ", volume.Keys().Where(k => k != "name"))} is not emulated");
    }

    /// <summary>The assembly the image runs: the ENTRYPOINT of the Dockerfile whose build line tags that image.</summary>
    private static string EntryPoint(string image)
    {
        foreach (var dockerfile in Directory.EnumerateFiles(DeployTree.DockerFolder, "Dockerfile.*"))
        {
            var text = File.ReadAllText(dockerfile);
            if (!text.Contains($" -t {image} ", StringComparison.Ordinal)) continue;
            var entry = EntryPointLine().Match(text);
            return entry.Success ? entry.Groups["dll"].Value : throw new InvalidDataException($"{dockerfile}: no ENTRYPOINT [\"dotnet\", \"/app/X.dll\"]");
        }
        throw new InvalidDataException($"no Dockerfile under deploy/docker builds image {image}");
    }

    [GeneratedRegex(@"^ENTRYPOINT \[""dotnet"", ""/app/(?<dll>[^""]+)""\]", RegexOptions.Multiline)]
    private static partial Regex EntryPointLine();
}

/// <summary>
/// A secret volume as the kubelet writes it (its atomic writer): the files in a timestamped folder, a "..data" link
/// to that folder, and each file's name a link through "..data", so that an update swaps one link.
/// </summary>
public static class SecretVolume
{
    public static void Write(string folder, IReadOnlyList<(string Path, byte[] Content, int Mode)> files)
    {
        var stamp = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss.fffffff}";
        var payload = Directory.CreateDirectory(Path.Combine(folder, stamp)).FullName;
        foreach (var (path, content, mode) in files)
        {
            var file = Path.Combine(payload, path);
            File.WriteAllBytes(file, content);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, (UnixFileMode)mode);
        }
        File.CreateSymbolicLink(Path.Combine(folder, "..data"), stamp);
        foreach (var (path, _, _) in files)
            File.CreateSymbolicLink(Path.Combine(folder, path), Path.Combine("..data", path));
    }
}
