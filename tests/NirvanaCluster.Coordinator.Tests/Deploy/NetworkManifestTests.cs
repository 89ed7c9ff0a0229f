using System.Globalization;
using static NirvanaCluster.Coordinator.Tests.Deploy.Deployment;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// How the members find and reach each other: the cluster flags are passed, ports agree between arguments,
/// containers, probes and Services, the seed the nodes dial is the name the coordinator advertises, and the failure
/// detectors of both sides share one setting.
/// </summary>
public class NetworkManifestTests
{
    [Fact]
    public void The_cluster_flags_the_deployment_relies_on_are_passed()
    {
        var job = Job.SingleContainer;
        foreach (var flag in new[] { "--listen", "--advertise", "--data-port", "--certificate", "--expect-nodes", "--model", "--output", "--heartbeat-timeout" })
            Assert.True(job.ArgValue(flag) is not null, $"{job}: {flag} is not passed");
        Assert.Contains("--shared-output", job.Args);
        foreach (var nodes in NodeVariants)
        {
            var node = nodes.SingleContainer;
            foreach (var flag in new[] { "--coordinator", "--listen", "--data-port", "--advertise", "--certificate", "--memory", "--health-port", "--heartbeat-timeout" })
                Assert.True(node.ArgValue(flag) is not null, $"{node}: {flag} is not passed");
        }
    }

    [Fact]
    public void Ports_in_arguments_containers_probes_and_services_are_the_documented_ones()
    {
        var job = Job.SingleContainer;
        Assert.Equal($"0.0.0.0:{CoordinatorPort}", job.ArgValue("--listen"));
        Assert.Equal(DataPort.ToString(CultureInfo.InvariantCulture), job.ArgValue("--data-port"));
        Assert.Equal(new Dictionary<string, int> { ["remoting"] = CoordinatorPort, ["data"] = DataPort }, job.NamedPorts);
        Assert.Equal(new Dictionary<string, int> { ["remoting"] = CoordinatorPort, ["data"] = DataPort }, ServicePorts(CoordinatorService, job));

        foreach (var nodes in NodeVariants)
        {
            var node = nodes.SingleContainer;
            Assert.Equal($"0.0.0.0:{NodePort}", node.ArgValue("--listen"));
            Assert.Equal(DataPort.ToString(CultureInfo.InvariantCulture), node.ArgValue("--data-port"));
            Assert.Equal(HealthPort.ToString(CultureInfo.InvariantCulture), node.ArgValue("--health-port"));
            Assert.Equal(new Dictionary<string, int> { ["remoting"] = NodePort, ["data"] = DataPort, ["health"] = HealthPort }, node.NamedPorts);
            Assert.Equal(new Dictionary<string, int> { ["remoting"] = NodePort, ["data"] = DataPort }, ServicePorts(NodesService, node));
            // The seed's port is the coordinator Service's remoting port, which reaches the Job's --listen port.
            Assert.EndsWith($":{CoordinatorPort}", node.ArgValue("--coordinator"));

            Assert.Equal("/readyz", node.Node.At("readinessProbe", "httpGet", "path").AsString());
            Assert.Equal(HealthPort, node.ResolvePort(node.Node.At("readinessProbe", "httpGet", "port")));
            Assert.Equal("/healthz", node.Node.At("livenessProbe", "httpGet", "path").AsString());
            Assert.Equal(HealthPort, node.ResolvePort(node.Node.At("livenessProbe", "httpGet", "port")));
        }
    }

    [Theory]
    [MemberData(nameof(WorkloadFiles), MemberType = typeof(Deployment))]
    public void A_container_declares_exactly_the_ports_its_program_listens_on(string file)
    {
        // What the program binds, read from its arguments, with the program's defaults (its --help) where a flag is
        // absent: the node listens on 7701, 7702 and 8080 by default, the coordinator picks a data port at random.
        var container = DeployTree.File(file).SingleContainer;
        var isNode = file != "coordinator-job.yaml";
        var listen = container.ArgValue("--listen") ?? (isNode ? "0.0.0.0:7701" : throw new InvalidDataException($"{container}: no --listen"));
        var listening = new List<int>
        {
            int.Parse(listen[(listen.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture),
            int.Parse(container.ArgValue("--data-port") ?? (isNode ? "7702" : "0"), CultureInfo.InvariantCulture),
        };
        if (isNode) listening.Add(int.Parse(container.ArgValue("--health-port") ?? "8080", CultureInfo.InvariantCulture));
        Assert.True(!listening.Contains(0), $"{container}: a port picked at random cannot be declared, exposed or probed ({string.Join(", ", listening)})");
        Assert.Equal(listening.Order(), container.NamedPorts.Values.Order());
    }

    [Fact]
    public void The_seed_the_nodes_dial_is_exactly_the_name_the_coordinator_advertises()
    {
        var advertised = Job.SingleContainer.ArgValue("--advertise");
        Assert.Equal($"{CoordinatorService.Name}.$(POD_NAMESPACE).svc.cluster.local", advertised);
        foreach (var nodes in NodeVariants)
        {
            var node = nodes.SingleContainer;
            // Akka.NET matches addresses by the exact host string: a seed under any other name for the same pod (its
            // IP, a short name) reaches the coordinator, which then drops the messages as addressed to someone else.
            var seed = node.ArgValue("--coordinator")!;
            Assert.Equal(advertised, seed[..seed.LastIndexOf(':')]);
            Assert.Equal($"$(POD_NAME).{NodesService.Name}.$(POD_NAMESPACE).svc.cluster.local", node.ArgValue("--advertise"));
        }
        // The names are built from the pod's own metadata, the same way in every container that uses them.
        var fields = new Dictionary<string, string> { ["POD_NAME"] = "metadata.name", ["POD_NAMESPACE"] = "metadata.namespace" };
        foreach (var workload in Workloads)
        {
            var container = workload.SingleContainer;
            foreach (var variable in container.Args.SelectMany(EnvReferences.In).Where(fields.ContainsKey).Distinct())
                Assert.Equal(fields[variable], container.EnvVar(variable).At("valueFrom", "fieldRef", "fieldPath").AsString());
        }
    }

    [Fact]
    public void The_coordinator_and_the_nodes_read_the_heartbeat_timeout_from_the_same_configmap_key()
    {
        // Akka.Cluster's failure detector runs on every member: a node with a shorter pause than the coordinator's
        // would give up on the coordinator (and leave) while the coordinator still counts on it.
        static string Key(Container c)
        {
            var variable = Assert.Single(EnvReferences.In(c.ArgValue("--heartbeat-timeout")!));
            return c.EnvVar(variable).At("valueFrom", "configMapKeyRef", "key").AsString()
                ?? throw new InvalidDataException($"{c}: --heartbeat-timeout does not come from the ConfigMap");
        }
        var key = Key(Job.SingleContainer);
        foreach (var nodes in NodeVariants) Assert.Equal(key, Key(nodes.SingleContainer));
        var seconds = double.Parse(ConfigMap.Root.At("data", key).AsString()!, CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 0.5, 600);  // what both programs accept
    }

    /// <summary>The ports a Service exposes, by name, each checked to reach the container port of the same number.</summary>
    private static Dictionary<string, int> ServicePorts(Manifest service, Container target)
    {
        var ports = new Dictionary<string, int>();
        foreach (var port in service.Root.At("spec", "ports").Items())
        {
            var number = int.Parse(port.Get("port").AsString()!, CultureInfo.InvariantCulture);
            Assert.Equal(number, target.ResolvePort(port.Get("targetPort") ?? port.Get("port")));
            ports.Add(port.Get("name").AsString() ?? $"(unnamed {number})", number);
        }
        return ports;
    }
}
