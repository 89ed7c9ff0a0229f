using System.Text.RegularExpressions;

namespace NirvanaCluster.Coordinator.Tests.Deploy;

/// <summary>
/// The images cannot be built here (no container engine), so these read the Dockerfiles and check what the manifests
/// and the programs rely on: the published program, the exposed ports, the runtime image and the non-root user.
/// </summary>
public class DockerfileTests
{
    [Theory]
    [InlineData("Dockerfile.coordinator", "src/Coordinator/NirvanaCluster.Coordinator.csproj", "nirvana.dll", new[] { 7700 })]
    [InlineData("Dockerfile.node", "src/Node/NirvanaCluster.Node.csproj", "nirvana-node.dll", new[] { 7701, 8080 })]
    public void The_image_publishes_the_program_exposes_its_ports_and_runs_it_as_a_non_root_user(string dockerfile, string project, string dll, int[] ports)
    {
        var text = File.ReadAllText(Path.Combine(DeployTree.DockerFolder, dockerfile));
        Assert.True(File.Exists(Path.Combine(DeployTree.RepositoryRoot, project)), $"{dockerfile}: publishes {project}, which does not exist");
        Assert.Contains($"dotnet publish {project} -c Release", text);
        // The entry point is the assembly the project really builds (the test output holds it, via the project reference).
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, dll)), $"{dll} is not what the project builds");
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"/app/{dll}\"]", text);

        var stages = Regex.Matches(text, @"^FROM\s+(\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0", "mcr.microsoft.com/dotnet/aspnet:10.0"], stages);
        Assert.Contains("libopenblas0-pthread", text);

        var exposed = Regex.Matches(text, @"^EXPOSE\s+(.+)$", RegexOptions.Multiline)
            .SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).Order();
        Assert.Equal(ports, exposed);

        // The .NET images' "app" user is UID 1654: the manifests' runAsUser and fsGroup assume it.
        Assert.Matches(new Regex(@"^USER \$APP_UID\s*$", RegexOptions.Multiline), text);
        foreach (var m in DeployTree.Manifests.Where(m => m.PodSpec is not null))
            Assert.Equal("1654", m.PodSpec.At("securityContext", "runAsUser").AsString());
    }

    [Fact]
    public void The_build_context_leaves_out_host_build_outputs()
    {
        var ignore = File.ReadAllLines(Path.Combine(DeployTree.RepositoryRoot, ".dockerignore")).Select(l => l.Trim()).ToList();
        Assert.Contains("**/bin/", ignore);
        Assert.Contains("**/obj/", ignore);
        Assert.DoesNotContain("src/", ignore);
    }
}
