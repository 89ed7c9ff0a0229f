using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using Serilog;

namespace NirvanaCluster.GpuNode;

/// <summary>Starts the node's actor system, joins the coordinator (retrying while it is not up yet) and runs until it leaves.</summary>
public static class NodeHost
{
    public const string SystemName = "nirvana-node";
    public const string CoordinatorSystemName = "nirvana";

    public static async Task<int> RunAsync(NodeOptions options, CancellationToken cancellation)
    {
        if (options.Threads is { } t) Engine.Tensors.GemmThreads.Set(t);
        var advertise = options.Advertise ?? (options.Listen.Host is "0.0.0.0" or "::" ? Environment.MachineName : options.Listen.Host);
        await using var health = options.HealthPort > 0 ? await HealthEndpoint.StartAsync(options.HealthPort) : null;
        await using var system = await ActorSystem.StartAsync(SystemName, new RemotingOptions(options.Secret)
        {
            BindHost = options.Listen.Host,
            Port = options.Listen.Port,
            PublicHost = advertise,
            NodeId = options.Name,
            MemoryBudgetBytes = options.MemoryBudget,
            UnreachableAfter = HeartbeatTimeout(),
            HeartbeatInterval = HeartbeatTimeout() / 4,
        }, new ActorSystemOptions { Logger = Log.Logger }, cancellation);
        system.ActorOf(Props.Create(() => new ShardNodeActor()), ShardNodeActor.Name);
        var seed = new Address(CoordinatorSystemName, options.Coordinator.Host, options.Coordinator.Port);
        Log.Information("Node {Name} at {Address}, memory budget {Budget:N0} bytes, joining {Seed}", options.Name, system.Address, options.MemoryBudget, seed);

        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(Props.Create(() => new SeedWatcher(seed, lost)), "seed-watcher");
        await JoinWithRetryAsync(system, seed, options.JoinTimeout, cancellation);
        health?.MarkReady(true);
        Log.Information("Joined coordinator {Seed}", seed);

        var reason = await lost.Task.WaitAsync(cancellation);
        Log.Information("Coordinator left ({Reason}); node {Name} exits", reason, options.Name);
        return 0;
    }

    /// <summary>NIRVANA_HEARTBEAT_TIMEOUT (seconds) matches a coordinator's --heartbeat-timeout; default 5 s.</summary>
    private static TimeSpan HeartbeatTimeout() =>
        double.TryParse(Environment.GetEnvironmentVariable("NIRVANA_HEARTBEAT_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out var s) && s >= 1
            ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(5);

    private static async Task JoinWithRetryAsync(ActorSystem system, Address seed, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await system.Cluster.JoinAsync(seed, TimeSpan.FromSeconds(10), cancellation);
                return;
            }
            catch (ClusterJoinException e) when (DateTime.UtcNow + delay < deadline && !IsFinalRefusal(e.Message))
            {
                Log.Debug("Join {Seed} failed ({Reason}); retrying in {Delay} ms", seed, e.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, cancellation);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 3000));
            }
        }
    }

    /// <summary>
    /// A coordinator that is not up yet refuses TCP connections; that is worth retrying. One that answered and
    /// refused us (wrong secret, other protocol version) will refuse again.
    /// </summary>
    private static bool IsFinalRefusal(string reason) =>
        reason.Contains("refused the connection:", StringComparison.Ordinal)
        || reason.Contains("failed authentication", StringComparison.Ordinal)
        || reason.Contains("speaks protocol version", StringComparison.Ordinal);

    /// <summary>Completes <paramref name="lost"/> when the coordinator becomes unreachable.</summary>
    private sealed class SeedWatcher : Actor
    {
        public SeedWatcher(Address seed, TaskCompletionSource<string> lost)
        {
            Receive<MemberUnreachable>(m =>
            {
                if (m.Member.Address == seed) lost.TrySetResult(m.Reason);
            });
            Receive<MemberUp>(_ => { });
        }

        protected override void PreStart() => Context.System.Cluster.Subscribe(Self);
    }
}
