using Microsoft.Extensions.Hosting;

namespace NirvanaCluster.Clustering.Hosting;

/// <summary>
/// A host lifetime that leaves SIGINT/SIGTERM to the program (System.CommandLine cancels its token, and the program
/// stops the host), so a signal is never mistaken for Akka.NET stopping on its own, and vice versa.
/// </summary>
public sealed class CallerOwnedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
