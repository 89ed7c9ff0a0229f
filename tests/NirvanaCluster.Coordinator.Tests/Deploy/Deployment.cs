namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>The objects of deploy/k8s the checks look at, by role, and the documented ports (deploy/README.md).</summary>
public static class Deployment
{
    /// <summary>Akka.Remote (control plane, mutual TLS) of the coordinator: the cluster's seed.</summary>
    public const int CoordinatorPort = 7700;
    /// <summary>Akka.Remote of a node.</summary>
    public const int NodePort = 7701;
    /// <summary>The data plane (tensors between stages, compacted weights to the coordinator), on every member.</summary>
    public const int DataPort = 7702;
    /// <summary>A node's /healthz and /readyz.</summary>
    public const int HealthPort = 8080;

    public const string CertificateSecret = "nirvana-cluster-certificate";

    public static Manifest Job => DeployTree.File("coordinator-job.yaml");
    public static Manifest CoordinatorService => DeployTree.File("coordinator-service.yaml");
    public static Manifest Nodes => DeployTree.File("nodes-statefulset.yaml");
    public static Manifest GpuNodes => DeployTree.File("nodes-statefulset-gpu.yaml");
    public static Manifest NodesService => DeployTree.File("nodes-service.yaml");
    public static Manifest ConfigMap => DeployTree.File("configmap.yaml");
    public static Manifest Claim => DeployTree.File("pvc.yaml");
    public static Manifest Kustomization => DeployTree.File("kustomization.yaml");

    public static IEnumerable<Manifest> NodeVariants => [Nodes, GpuNodes];
    public static IEnumerable<Manifest> Workloads => [Job, Nodes, GpuNodes];

    public static TheoryData<string> WorkloadFiles => new() { "coordinator-job.yaml", "nodes-statefulset.yaml", "nodes-statefulset-gpu.yaml" };
}
