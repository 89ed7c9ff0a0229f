using System.Diagnostics;
using System.Globalization;
using System.Net;
using NirvanaCluster.Coordinator.Tests.Cluster;
using Xunit.Abstractions;
using static NirvanaCluster.Coordinator.Tests.Deploy.Deployment;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// The deployment as shipped, run as far as this machine can without a cluster: the certificate made by the README's
/// own openssl line and laid out as the kubelet mounts a Secret; every pod a network namespace reachable by the DNS
/// name Kubernetes gives it (Service and StatefulSet pod names, in /etc/hosts); each container started with the
/// manifests' arguments and environment exactly as the kubelet expands them (ConfigMap as shipped, resources,
/// pod metadata), on the ports the manifests declare. Only the volumes are folders here. The pruned model must equal
/// the one a single process makes with the same settings. Four programs at once load the machine: the test runs
/// alone, after the parallel ones, so that it does not starve the heartbeats of the cluster tests (2 s pauses).
/// </summary>
[Collection(nameof(DeploymentRunTests))]
public sealed class DeploymentRunTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("nirvana-deploy-").FullName;
    private readonly List<RunningProcess> _processes = [];
    private PodNetwork? _network;

    [DeploymentRunFact]
    public async Task The_manifests_as_shipped_prune_a_model_across_pods_named_as_kubernetes_names_them()
    {
        var ns = Kustomization.Root.Get("namespace").AsString()!;
        var world = new PodWorld(ns, ConfigMap, Claim.Name!, Path.Combine(_root, "claim"), CertificateSecret, MakeSecret(), Path.Combine(_root, "pods"));

        // The model (with a tokenizer) and the calibration text where the ConfigMap says, on the claim as the Job
        // mounts it; one layer per node, positions for the ConfigMap's seq-len.
        var replicas = int.Parse(Nodes.Root.At("spec", "replicas").AsString()!, CultureInfo.InvariantCulture);
        using var tiny = new TinyModel(layers: replicas, adjust: c => c with { MaxPositionEmbeddings = 256 });
        var job = PodLaunch.Prepare(Job, $"{Job.Name}-t3st1", world);
        var model = ArgValue(job, "--model");
        var calibration = ArgValue(job, "--calibration");
        Assert.StartsWith(world.ClaimRoot, model);  // the ConfigMap's paths lie on the claim
        Assert.StartsWith(world.ClaimRoot, calibration);
        CopyFolder(tiny.ModelDir, model);
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), TinyTokenizerJson);
        File.WriteAllText(calibration, string.Join(' ', Enumerable.Range(0, 3000).Select(i => (i * 7 % 5) switch { 0 => "ab", 1 => "a", 2 => "b", 3 => "ba", _ => "aab" })));

        // Kubernetes DNS: <service>.<namespace>.svc.cluster.local, and <pod>.<serviceName>.<namespace>.svc.cluster.local.
        _network = new PodNetwork();
        var (jobNamespace, _) = _network.AddPod($"{CoordinatorService.Name}.{ns}.svc.cluster.local");
        var nodePods = Enumerable.Range(0, replicas).Select(i => $"{Nodes.Name}-{i}").ToList();
        var serviceName = Nodes.Root.At("spec", "serviceName").AsString();
        var nodeAddresses = nodePods.Select(pod => _network.AddPod($"{pod}.{serviceName}.{ns}.svc.cluster.local")).ToList();

        // The StatefulSet's pods start beside the Job, usually first: alive, not ready until they have joined.
        var nodes = new List<RunningProcess>();
        for (var i = 0; i < replicas; i++)
            nodes.Add(Start(PodLaunch.Prepare(Nodes, nodePods[i], world), nodeAddresses[i].Namespace));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var container = Nodes.SingleContainer;
        for (var i = 0; i < replicas; i++)
        {
            await nodes[i].WaitForLineAsync(l => l.Contains("joining akka.ssl.tcp://"), TimeSpan.FromMinutes(1));
            Assert.Equal(HttpStatusCode.OK, await Probe(http, nodeAddresses[i].Address, container, "livenessProbe"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await Probe(http, nodeAddresses[i].Address, container, "readinessProbe"));
        }

        var coordinator = Start(job, jobNamespace);
        var code = await coordinator.WaitForExitAsync(TimeSpan.FromMinutes(5));
        output.WriteLine(coordinator.Output);
        Assert.True(code == 0, coordinator.Output);
        foreach (var pod in nodePods)
            Assert.Contains($"joined from akka.ssl.tcp://nirvana@{pod}.{serviceName}.{ns}.svc.cluster.local:{NodePort}", coordinator.Output);
        // When the run ends the nodes leave and exit 0, for the StatefulSet to restart them for the next run.
        for (var i = 0; i < replicas; i++)
        {
            var exit = await nodes[i].WaitForExitAsync(TimeSpan.FromMinutes(1));
            output.WriteLine(nodes[i].Output);
            Assert.True(exit == 0, nodes[i].Output);
        }

        // Same answer as one process given the same job settings (the cluster flags left out).
        var pruned = ArgValue(job, "--output");
        var reference = Path.Combine(_root, "reference");
        var single = CliRunner.Run([.. WithoutClusterFlags(job.Args, pruned, reference)]);
        Assert.True(single.ExitCode == 0, single.Stderr);
        ClusterPruneTests.AssertSameTensors(reference, pruned);
        Assert.Equal(File.ReadAllText(Path.Combine(reference, "config.json")), File.ReadAllText(Path.Combine(pruned, "config.json")));
    }

    /// <summary>A byte-level BPE tokenizer within the tiny model's 50 ids (BOS 1, EOS 2 as its config says).</summary>
    private const string TinyTokenizerJson = """
        {
          "added_tokens": [ { "id": 0, "content": "<unk>", "special": true }, { "id": 1, "content": "<s>", "special": true }, { "id": 2, "content": "</s>", "special": true } ],
          "normalizer": null,
          "pre_tokenizer": { "type": "ByteLevel", "add_prefix_space": false, "use_regex": true },
          "decoder": { "type": "ByteLevel" },
          "model": { "type": "BPE", "vocab": { "a": 3, "b": 4, "Ġ": 5, "ab": 6, "Ġab": 7, "Ġa": 8, "Ġb": 9, "ba": 10, "Ġba": 11 },
                     "merges": [ "a b", "b a", "Ġ ab", "Ġ ba", "Ġ a", "Ġ b" ] }
        }
        """;

    private static string ArgValue(PodLaunch pod, string flag) => pod.Args[pod.Args.ToList().IndexOf(flag) + 1];

    /// <summary>The Secret as `kubectl create secret tls` makes it from the files the README's openssl line writes.</summary>
    private Dictionary<string, byte[]> MakeSecret()
    {
        var recipe = CertificateRecipe.FromReadme();
        var folder = Directory.CreateDirectory(Path.Combine(_root, "openssl")).FullName;
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = folder, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(recipe.OpensslCommand);
        using (var p = Process.Start(psi)!)
        {
            var err = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"the README's `{recipe.OpensslCommand}` failed (is openssl installed?): {err.Result}");
        }
        return new Dictionary<string, byte[]>
        {
            ["tls.crt"] = File.ReadAllBytes(Path.Combine(folder, recipe.CertificateFile)),
            ["tls.key"] = File.ReadAllBytes(Path.Combine(folder, recipe.KeyFile)),
        };
    }

    private RunningProcess Start(PodLaunch pod, string netns)
    {
        var process = RunningProcess.Dotnet(pod.Dll, pod.Args, pod.Environment, netns);
        _processes.Add(process);
        return process;
    }

    /// <summary>GET on the probe's path and port, as the kubelet sends it to the pod's address.</summary>
    private static async Task<HttpStatusCode> Probe(HttpClient http, string address, Container container, string probe)
    {
        var get = container.Node.At(probe, "httpGet");
        var port = container.ResolvePort(get.Get("port"));
        using var response = await http.GetAsync($"http://{address}:{port}{get.Get("path").AsString()}");
        return response.StatusCode;
    }

    /// <summary>The Job's arguments for one process: the cluster flags dropped, another output folder.</summary>
    private static IEnumerable<string> WithoutClusterFlags(IReadOnlyList<string> args, string output, string reference)
    {
        string[] valued = ["--listen", "--advertise", "--data-port", "--certificate", "--expect-nodes", "--join-timeout", "--heartbeat-timeout"];
        for (var i = 0; i < args.Count; i++)
        {
            if (valued.Contains(args[i])) { i++; continue; }
            if (args[i] == "--shared-output") continue;
            yield return args[i] == output ? reference : args[i];
        }
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    public void Dispose()
    {
        foreach (var process in _processes) process.Dispose();
        _network?.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(nameof(DeploymentRunTests), DisableParallelization = true)]
public sealed class DeploymentRunCollection;

/// <summary>A fact skipped, with the reason, where pods cannot be emulated (network namespaces need root and iproute2).</summary>
public sealed class DeploymentRunFactAttribute : FactAttribute
{
    public DeploymentRunFactAttribute()
    {
        if (PodNetwork.CannotRun() is { } why) Skip = why;
    }
}
