using YamlDotNet.RepresentationModel;
using static NirvanaCluster.Coordinator.Tests.Deploy.Deployment;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// Keeps deploy/k8s honest: every object is well formed, the kustomization lists the base, the containers pass only
/// flags the real programs accept, and names, labels, keys, volumes and variables agree across the files. Ports and
/// addresses: <see cref="NetworkManifestTests"/>; the certificate: <see cref="CertificateManifestTests"/>.
/// </summary>
public class ManifestTests
{
    [Fact]
    public void Every_document_is_a_kubernetes_object_with_api_version_kind_and_name()
    {
        Assert.NotEmpty(DeployTree.Manifests);
        foreach (var m in DeployTree.Manifests)
        {
            Assert.False(string.IsNullOrEmpty(m.ApiVersion), $"{m}: apiVersion is missing");
            Assert.False(string.IsNullOrEmpty(m.Kind), $"{m}: kind is missing");
            if (m.Kind != "Kustomization") Assert.False(string.IsNullOrEmpty(m.Name), $"{m}: metadata.name is missing");
        }
        var kinds = DeployTree.Manifests.Select(m => m.Kind).Order().ToList();
        Assert.Equal(["ConfigMap", "Job", "Kustomization", "Namespace", "PersistentVolumeClaim", "Service", "Service", "StatefulSet", "StatefulSet"], kinds);
    }

    [Fact]
    public void The_kustomization_lists_every_base_file_and_only_files_that_exist()
    {
        var kustomization = Kustomization;
        Assert.Equal("nirvana", kustomization.Root.Get("namespace").AsString());
        var listed = kustomization.Root.Get("resources").Strings().Order(StringComparer.Ordinal).ToList();
        // The base is every manifest beside the kustomization except the variants (*-gpu.yaml), which replace a base file.
        var baseFiles = DeployTree.K8sFiles
            .Where(f => !f.Contains('/') && f != "kustomization.yaml" && !f.EndsWith("-gpu.yaml", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(baseFiles, listed);
        Assert.DoesNotContain("nodes-statefulset-gpu.yaml", listed);
        Assert.Equal(DeployTree.Manifests.Single(m => m.Kind == "Namespace").Name, kustomization.Root.Get("namespace").AsString());
    }

    [Theory]
    [MemberData(nameof(WorkloadFiles), MemberType = typeof(Deployment))]
    public void Container_arguments_use_only_flags_the_real_program_accepts(string file)
    {
        var container = DeployTree.File(file).SingleContainer;
        Assert.Empty(container.Command);  // the images' ENTRYPOINT runs the program; the manifests pass arguments only
        var args = container.Args;
        IReadOnlyList<string> problems;
        if (file == "coordinator-job.yaml")
        {
            Assert.True(args is ["prune", ..], $"{container}: the first argument must be the command 'prune'");
            problems = ArgumentCheck.Problems(args.Skip(1).ToList(), ProgramHelp.Prune);
        }
        else
        {
            problems = ArgumentCheck.Problems(args, ProgramHelp.Node);
        }
        Assert.True(problems.Count == 0, $"{container}:\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void The_argument_check_catches_unknown_flags_missing_values_and_stray_words()
    {
        var help = ProgramHelp.Parse("""
            Options:
              --model <model>                   Hugging Face model folder
              --sparsity <sparsity> (REQUIRED)  Fraction of weights to remove, unless --force
              --force                           Replace an existing output folder
              -?, -h, --help                    Show help and usage information
            """);
        Assert.Equal(["--force", "--help", "--model", "--sparsity"], help.Options.Keys.Order());
        Assert.True(help.Options["--sparsity"] is { TakesValue: true, Required: true });
        Assert.True(help.Options["--force"] is { TakesValue: false, Required: false });

        Assert.Empty(ArgumentCheck.Problems(["--model", "/m", "--sparsity", "0.3", "--force"], help));
        Assert.Empty(ArgumentCheck.Problems(["--sparsity=0.3"], help));
        Assert.Single(ArgumentCheck.Problems(["--sparsity", "0.3", "--modle", "/m"], help), p => p.StartsWith("--modle is not an option"));
        Assert.Single(ArgumentCheck.Problems(["--sparsity", "0.3", "--model"], help), p => p.Contains("takes a value"));
        Assert.Single(ArgumentCheck.Problems(["--sparsity", "0.3", "--force", "true"], help), p => p.Contains("'true'"));
        Assert.Single(ArgumentCheck.Problems(["--model", "/m"], help), p => p.Contains("required option --sparsity"));
    }

    [Theory]
    [InlineData("$(POD_NAME).nirvana-nodes.$(POD_NAMESPACE).svc", new[] { "POD_NAME", "POD_NAMESPACE" })]
    [InlineData("$$(LITERAL) and $(REAL)", new[] { "REAL" })]
    [InlineData("cost: $5 (no reference)", new string[0])]
    [InlineData("$(UNCLOSED", new string[0])]
    public void Variable_references_are_read_as_the_kubelet_expands_them(string text, string[] expected) =>
        Assert.Equal(expected, EnvReferences.In(text));

    [Theory]
    [MemberData(nameof(WorkloadFiles), MemberType = typeof(Deployment))]
    public void Variables_referenced_in_arguments_are_defined_in_the_container(string file)
    {
        foreach (var container in DeployTree.File(file).Containers)
        {
            var defined = container.EnvNames;
            Assert.Equal(defined.Count, defined.Distinct().Count());
            foreach (var reference in container.Command.Concat(container.Args).SelectMany(EnvReferences.In))
                Assert.True(defined.Contains(reference), $"{container}: $({reference}) is used in the arguments but not defined in env");
            // An env value may refer only to variables defined above it.
            for (var i = 0; i < container.Env.Count; i++)
                foreach (var reference in EnvReferences.In(container.Env[i].Get("value").AsString() ?? ""))
                    Assert.True(defined.Take(i).Contains(reference), $"{container}: env {defined[i]} refers to $({reference}), not defined above it");
        }
    }

    [Fact]
    public void The_statefulset_is_governed_by_the_headless_service_that_selects_its_pods()
    {
        Assert.Equal("None", NodesService.Root.At("spec", "clusterIP").AsString());
        // Nodes become ready only after joining, and joining needs their DNS names: publish them before readiness.
        Assert.Equal("true", NodesService.Root.At("spec", "publishNotReadyAddresses").AsString());
        var selector = NodesService.Root.At("spec", "selector").StringMap();
        Assert.NotEmpty(selector);
        foreach (var nodes in NodeVariants)
        {
            Assert.Equal(NodesService.Name, nodes.Root.At("spec", "serviceName").AsString());
            Assert.Equal("Parallel", nodes.Root.At("spec", "podManagementPolicy").AsString());
            Assert.Subset(nodes.PodLabels.ToHashSet(), selector.ToHashSet());
            Assert.Subset(nodes.PodLabels.ToHashSet(), nodes.Root.At("spec", "selector", "matchLabels").StringMap().ToHashSet());
        }
    }

    [Fact]
    public void The_coordinator_service_selects_the_jobs_pod_and_no_node()
    {
        var selector = CoordinatorService.Root.At("spec", "selector").StringMap().ToHashSet();
        Assert.NotEmpty(selector);
        Assert.Subset(Job.PodLabels.ToHashSet(), selector);
        Assert.False(selector.IsSubsetOf(Nodes.PodLabels), "the coordinator Service would also route to node pods");
        Assert.Equal("0", Job.Root.At("spec", "backoffLimit").AsString());
        Assert.Equal("Never", Job.PodSpec.Get("restartPolicy").AsString());
    }

    [Fact]
    public void ConfigMap_keys_read_by_the_job_exist_and_the_expected_node_count_is_the_replica_count()
    {
        var data = ConfigMap.Root.Get("data").StringMap();
        foreach (var workload in Workloads)
            foreach (var reference in workload.SingleContainer.Env.Select(e => e.At("valueFrom", "configMapKeyRef")).Where(r => r is not null))
            {
                Assert.Equal(ConfigMap.Name, reference.Get("name").AsString());
                Assert.True(data.ContainsKey(reference.Get("key").AsString()!), $"{workload}: ConfigMap key '{reference.Get("key").AsString()}' does not exist");
            }
        var expectNodes = EnvReferences.In(Job.SingleContainer.ArgValue("--expect-nodes")!);
        var key = Job.SingleContainer.EnvVar(Assert.Single(expectNodes)).At("valueFrom", "configMapKeyRef", "key").AsString()!;
        foreach (var nodes in NodeVariants)
            Assert.Equal(data[key], nodes.Root.At("spec", "replicas").AsString());
    }

    [Fact]
    public void Every_pod_mounts_the_shared_claim_models_read_only_and_outputs_writable()
    {
        Assert.Equal("nirvana-data", Claim.Name);
        Assert.Equal(["ReadWriteMany"], Claim.Root.At("spec", "accessModes").Strings());
        foreach (var workload in Workloads)
        {
            var claims = workload.PodSpec.Get("volumes").Items().Select(v => v.At("persistentVolumeClaim", "claimName").AsString()).OfType<string>();
            Assert.Equal([Claim.Name], claims);
            var container = workload.SingleContainer;
            Assert.Equal("true", container.MountAt("/data/models")?.Get("readOnly").AsString());
            var outputs = container.MountAt("/data/outputs");
            Assert.True(outputs is not null, $"{container}: nothing is mounted at /data/outputs");
            Assert.NotEqual("true", outputs.Get("readOnly").AsString());
        }
        Assert.StartsWith("/data/outputs/", ConfigMap.Root.At("data", "output").AsString());
        Assert.StartsWith("/data/models/", ConfigMap.Root.At("data", "model").AsString());
    }

    [Fact]
    public void The_node_memory_budget_is_derived_from_its_own_resources_and_leaves_headroom_below_the_limit()
    {
        foreach (var nodes in NodeVariants)
        {
            var node = nodes.SingleContainer;
            var variable = Assert.Single(EnvReferences.In(node.ArgValue("--memory")!));
            var field = node.EnvVar(variable).At("valueFrom", "resourceFieldRef");
            Assert.True(field is not null, $"{node}: {variable} is not a resourceFieldRef");
            Assert.Equal(node.Name, field.Get("containerName").AsString());
            var resource = field.Get("resource").AsString()!;
            Assert.EndsWith(".memory", resource);
            Assert.True(field.Get("divisor") is null, $"{node}: a divisor would turn the byte count into other units");
            Assert.True(Quantity.Bytes(node.Request("memory")!) < Quantity.Bytes(node.Limit("memory")!), $"{node}: the budget (the memory request) must stay below the limit");
        }
    }

    [Fact]
    public void The_gpu_variant_reserves_a_gpu_and_is_otherwise_the_same_statefulset()
    {
        Assert.True(int.TryParse(GpuNodes.SingleContainer.Limit("nvidia.com/gpu"), out var gpus) && gpus >= 1,
            $"{GpuNodes}: resources.limits has no nvidia.com/gpu");
        Assert.Null(Nodes.SingleContainer.Limit("nvidia.com/gpu"));
        Assert.Equal(Nodes.Name, GpuNodes.Name);
        foreach (var path in new[] { new[] { "spec", "serviceName" }, ["spec", "replicas"], ["spec", "podManagementPolicy"] })
            Assert.Equal(Nodes.Root.At(path).AsString(), GpuNodes.Root.At(path).AsString());
        Assert.Equal(Nodes.PodLabels, GpuNodes.PodLabels);
        Assert.Equal(Nodes.SingleContainer.Args, GpuNodes.SingleContainer.Args);
        Assert.Equal(Nodes.SingleContainer.EnvNames, GpuNodes.SingleContainer.EnvNames);
        Assert.Equal(Nodes.SingleContainer.NamedPorts, GpuNodes.SingleContainer.NamedPorts);
        Assert.Equal(Render(Nodes.PodSpec.Get("volumes")), Render(GpuNodes.PodSpec.Get("volumes")));
        Assert.Equal(Render(Nodes.SingleContainer.Node.Get("volumeMounts")), Render(GpuNodes.SingleContainer.Node.Get("volumeMounts")));
    }

    private static string Render(YamlNode? node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node ?? new YamlScalarNode(""))).Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
