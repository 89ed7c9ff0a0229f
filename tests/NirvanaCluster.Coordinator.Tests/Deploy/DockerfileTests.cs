using System.Text.Json;
using System.Text.RegularExpressions;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// The images cannot be built here (no container engine), so these read the Dockerfiles and check what the manifests
/// and the programs rely on: the published program, the build inputs, the exposed ports, the runtime image and its
/// shared frameworks, and the non-root user.
/// </summary>
public class DockerfileTests
{
    public static TheoryData<string, string, string, int[]> Images => new()
    {
        { "Dockerfile.coordinator", "src/Coordinator/NirvanaCluster.Coordinator.csproj", "nirvana.dll", [Deployment.CoordinatorPort, Deployment.DataPort] },
        { "Dockerfile.node", "src/Node/NirvanaCluster.Node.csproj", "nirvana-node.dll", [Deployment.NodePort, Deployment.DataPort, Deployment.HealthPort] },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void The_image_publishes_the_program_exposes_its_ports_and_runs_it_as_a_non_root_user(string dockerfile, string project, string dll, int[] ports)
    {
        var text = File.ReadAllText(Path.Combine(DeployTree.DockerFolder, dockerfile));
        Assert.True(File.Exists(Path.Combine(DeployTree.RepositoryRoot, project)), $"{dockerfile}: publishes {project}, which does not exist");
        Assert.Contains($"dotnet publish {project} -c Release", text);
        // The entry point is the assembly the project really builds (the test output holds it, via the project reference).
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, dll)), $"{dll} is not what the project builds");
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"/app/{dll}\"]", text);

        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"], Stages(text));
        Assert.Contains("libopenblas0-pthread", text);

        var exposed = Regex.Matches(text, @"^EXPOSE\s+(.+)$", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).Order();
        Assert.Equal(ports.Order(), exposed);

        // The .NET images' "app" user is UID 1654: the manifests' runAsUser and fsGroup assume it.
        Assert.Matches(new Regex(@"^USER \$APP_UID\s*$", RegexOptions.Multiline), text);
        foreach (var m in DeployTree.Manifests.Where(m => m.PodSpec is not null))
            Assert.Equal("1654", m.PodSpec.At("securityContext", "runAsUser").AsString());
    }

    [Theory]
    [InlineData("Dockerfile.coordinator", "nirvana.dll")]
    [InlineData("Dockerfile.node", "nirvana-node.dll")]
    public void The_runtime_image_provides_every_shared_framework_the_program_asks_for(string dockerfile, string dll)
    {
        // What each official image carries on top of the .NET runtime (mcr.microsoft.com/dotnet/*: runtime < aspnet).
        var provided = new Dictionary<string, string[]>
        {
            ["mcr.microsoft.com/dotnet/runtime:10.0"] = ["Microsoft.NETCore.App"],
            ["mcr.microsoft.com/dotnet/aspnet:10.0"] = ["Microsoft.NETCore.App", "Microsoft.AspNetCore.App"],
        };
        var runtimeImage = Stages(File.ReadAllText(Path.Combine(DeployTree.DockerFolder, dockerfile)))[^1];
        Assert.True(provided.ContainsKey(runtimeImage), $"{dockerfile}: unknown runtime image {runtimeImage}");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, Path.ChangeExtension(dll, ".runtimeconfig.json"))));
        var options = config.RootElement.GetProperty("runtimeOptions");
        var frameworks = options.TryGetProperty("frameworks", out var list) ? list.EnumerateArray().ToList() : [options.GetProperty("framework")];
        Assert.NotEmpty(frameworks);
        foreach (var framework in frameworks)
        {
            var name = framework.GetProperty("name").GetString()!;
            Assert.True(provided[runtimeImage].Contains(name), $"{dll} needs {name}, which {runtimeImage} does not carry");
            Assert.StartsWith(runtimeImage[(runtimeImage.LastIndexOf(':') + 1)..] + ".", framework.GetProperty("version").GetString());
        }
    }

    [Theory]
    [InlineData("Dockerfile.coordinator")]
    [InlineData("Dockerfile.node")]
    public void The_build_copies_every_file_msbuild_reads_from_the_repository_root(string dockerfile)
    {
        // MSBuild and NuGet pick these up from the folders above a project; one left out of the image builds
        // differently there (another package source, other versions) or not at all.
        var text = File.ReadAllText(Path.Combine(DeployTree.DockerFolder, dockerfile));
        var copied = Regex.Matches(text, @"^COPY\s+(?!--from)(.+)\s+\S+\s*$", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        Assert.Contains("src/", copied);
        foreach (var name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "NuGet.config", "nuget.config", "global.json" })
            if (File.Exists(Path.Combine(DeployTree.RepositoryRoot, name)))
                Assert.True(copied.Contains(name), $"{dockerfile}: {name} is in the repository root but not copied into the build");
    }

    [Fact]
    public void The_build_context_leaves_out_host_build_outputs()
    {
        var ignore = File.ReadAllLines(Path.Combine(DeployTree.RepositoryRoot, ".dockerignore")).Select(l => l.Trim()).ToList();
        Assert.Contains("**/bin/", ignore);
        Assert.Contains("**/obj/", ignore);
        Assert.DoesNotContain("src/", ignore);
    }

    private static List<string> Stages(string dockerfile) =>
        Regex.Matches(dockerfile, @"^FROM\s+(\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
}
