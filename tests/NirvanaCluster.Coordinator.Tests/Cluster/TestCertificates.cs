using NirvanaCluster.Clustering.Hosting;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>Cluster certificates for tests with real processes: one the cluster shares, and a stranger's.</summary>
public static class TestCertificates
{
    private static readonly string Folder = Directory.CreateTempSubdirectory("nirvana-test-certs-").FullName;

    public static string Cluster { get; } = ClusterCertificate.WritePrivateFile(ClusterCertificate.CreateThrowaway(), Folder);
    public static string Stranger { get; } = ClusterCertificate.WritePrivateFile(ClusterCertificate.CreateThrowaway(), Folder);

    /// <summary>The environment that gives a program the cluster's certificate.</summary>
    public static Dictionary<string, string> Environment(string? certificate = null) =>
        new() { [ClusterCertificate.PathVariable] = certificate ?? Cluster };
}
