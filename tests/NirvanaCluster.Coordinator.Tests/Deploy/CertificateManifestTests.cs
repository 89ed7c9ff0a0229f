using System.Text.RegularExpressions;
using NirvanaCluster.Clustering.Hosting;
using YamlDotNet.RepresentationModel;
using static NirvanaCluster.Coordinator.Tests.Deploy.Deployment;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// The cluster certificate in the deployment: one kubernetes.io/tls Secret, made as deploy/README.md says, mounted
/// into every pod where the program is told to read it; the retired shared secret is gone, and no key is kept here.
/// </summary>
public class CertificateManifestTests
{
    [Theory]
    [MemberData(nameof(WorkloadFiles), MemberType = typeof(Deployment))]
    public void The_certificate_secret_is_mounted_into_the_program_and_its_path_reaches_it(string file)
    {
        var workload = DeployTree.File(file);
        var container = workload.SingleContainer;
        // Every Secret the pod uses is the cluster certificate, by one name, and it is read from files only.
        var volume = Assert.Single(workload.PodSpec.Get("volumes").Items(), v => v.Get("secret") is not null);
        Assert.Equal(CertificateSecret, volume.At("secret", "secretName").AsString());
        Assert.True(container.Env.All(e => e.At("valueFrom", "secretKeyRef") is null), $"{container}: no variable should come from a Secret");
        Assert.Empty(container.Node.Get("envFrom").Items());

        // Mounted whole and read-only, holding tls.crt and tls.key, readable by the pod's non-root user.
        var mount = container.VolumeMounts.SingleOrDefault(m => m.Get("name").AsString() == volume.Get("name").AsString());
        Assert.True(mount is not null, $"{container}: the certificate volume is not mounted");
        Assert.Equal("true", mount.Get("readOnly").AsString());
        Assert.Null(mount.Get("subPath"));  // a subPath mount would not see a renewed Secret, and hides the other file
        var mountPath = mount.Get("mountPath").AsString()!;
        var files = SecretFiles(volume);
        Assert.Subset(files.ToHashSet(), new HashSet<string> { "tls.crt", "tls.key" });
        var security = workload.PodSpec.Get("securityContext");
        Assert.True(security.Get("runAsUser").AsString() is { } user && user != "0", $"{workload}: expected a non-root runAsUser");
        var mode = FileMode(volume.At("secret", "defaultMode").AsString() ?? "0644");
        // The kubelet makes the files root-owned, group fsGroup: the user reads them as group or as other.
        var readable = (mode & 0b000_000_100) != 0 || ((mode & 0b000_100_000) != 0 && security.Get("fsGroup") is not null);
        Assert.True(readable, $"{workload}: defaultMode {Convert.ToString(mode, 8)} does not let the pod's user read the certificate");

        // The program is told where: --certificate, else NIRVANA_CLUSTER_CERTIFICATE; either the folder (the program
        // reads tls.crt and tls.key from it, the layout of a TLS Secret) or one of the files in it.
        var path = container.ArgValue("--certificate") ?? container.EnvVar(ClusterCertificate.PathVariable)?.Get("value").AsString();
        Assert.True(path is not null, $"{container}: neither --certificate nor {ClusterCertificate.PathVariable} names the certificate");
        if (path != mountPath)
        {
            Assert.StartsWith(mountPath + "/", path);
            Assert.Contains(path[(mountPath.Length + 1)..], files);
        }
    }

    [Fact]
    public void Nothing_uses_the_retired_shared_secret_and_no_key_is_kept_in_the_repository()
    {
        foreach (var workload in Workloads)
        {
            var container = workload.SingleContainer;
            Assert.DoesNotContain("--secret-file", container.Args);
            Assert.DoesNotContain("NIRVANA_CLUSTER_SECRET", container.EnvNames);
        }
        foreach (var path in Directory.EnumerateFiles(Path.Combine(DeployTree.RepositoryRoot, "deploy"), "*", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(path);
            foreach (var retired in new[] { "NIRVANA_CLUSTER_SECRET", "--secret-file", "nirvana-cluster-secret" })
                Assert.False(text.Contains(retired, StringComparison.Ordinal), $"{path} still mentions {retired}");
            Assert.False(text.Contains("PRIVATE KEY-----", StringComparison.Ordinal), $"{path} holds a private key");
        }
        // The Secret is made per cluster (deploy/README.md), never applied from here: a key in the base would be one
        // published key for every cluster, a placeholder would overwrite the real one at each `kubectl apply -k`.
        Assert.DoesNotContain(DeployTree.Manifests, m => m.Kind == "Secret");
        Assert.Null(Kustomization.Root.Get("secretGenerator"));
    }

    [Fact]
    public void The_readme_creates_the_secret_the_pods_mount_in_their_namespace_from_the_files_openssl_writes()
    {
        var recipe = CertificateRecipe.FromReadme();
        Assert.Equal(CertificateSecret, recipe.SecretName);
        Assert.Equal(Kustomization.Root.Get("namespace").AsString(), recipe.Namespace);
        Assert.Equal(recipe.OpensslCertificateFile, recipe.CertificateFile);
        Assert.Equal(recipe.OpensslKeyFile, recipe.KeyFile);
    }

    [Fact]
    public void The_file_mode_is_read_as_kubernetes_reads_yaml()
    {
        Assert.Equal(0x120, FileMode("0440"));  // octal 440
        Assert.Equal(0x1A4, FileMode("420"));   // decimal, octal 644
        Assert.Equal(0x100, FileMode("0o400"));
    }

    /// <summary>The files a secret volume puts in its folder: the items' paths, or every key when no items are named.</summary>
    private static IReadOnlyList<string> SecretFiles(YamlNode volume)
    {
        var items = volume.At("secret", "items").Items();
        // Without items, a kubernetes.io/tls Secret (what `kubectl create secret tls` makes) holds exactly these keys.
        return items.Count == 0 ? ["tls.crt", "tls.key"] : items.Select(i => i.Get("path").AsString()!).ToList();
    }

    /// <summary>A file mode as Kubernetes reads it from YAML: a leading 0 is octal (YAML 1.1), else decimal.</summary>
    internal static int FileMode(string text) =>
        text.StartsWith("0o", StringComparison.Ordinal) ? Convert.ToInt32(text[2..], 8)
        : text.Length > 1 && text[0] == '0' ? Convert.ToInt32(text, 8)
        : int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// deploy/README.md's recipe for the cluster certificate, read from the README itself: the openssl line that writes
/// a self-signed certificate and its key, and the kubectl line that makes them the Secret.
/// </summary>
public sealed partial record CertificateRecipe(string OpensslCommand, string OpensslCertificateFile, string OpensslKeyFile,
    string Namespace, string SecretName, string CertificateFile, string KeyFile)
{
    public static CertificateRecipe FromReadme()
    {
        var readme = File.ReadAllText(Path.Combine(DeployTree.RepositoryRoot, "deploy", "README.md"));
        var create = KubectlLine().Match(readme);
        if (!create.Success) throw new InvalidDataException("deploy/README.md has no `kubectl -n NAMESPACE create secret tls NAME --cert=FILE --key=FILE`");
        var openssl = OpensslLine().Match(readme[..create.Index]);
        if (!openssl.Success) throw new InvalidDataException("deploy/README.md has no `openssl req ... -keyout FILE ... -out FILE` before its kubectl line");
        return new CertificateRecipe(openssl.Value.Trim(), openssl.Groups["cert"].Value, openssl.Groups["key"].Value,
            create.Groups["ns"].Value, create.Groups["name"].Value, create.Groups["cert"].Value, create.Groups["key"].Value);
    }

    [GeneratedRegex(@"kubectl -n (?<ns>\S+) create secret tls (?<name>\S+) --cert=(?<cert>\S+) --key=(?<key>\S+)")]
    private static partial Regex KubectlLine();

    [GeneratedRegex(@"^openssl req [^\n]*-keyout (?<key>\S+)[^\n]*-out (?<cert>\S+)[^\n]*$", RegexOptions.Multiline)]
    private static partial Regex OpensslLine();
}
