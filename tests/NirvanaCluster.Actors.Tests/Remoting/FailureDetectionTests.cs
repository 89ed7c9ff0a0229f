using System.Diagnostics;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;
using Serilog.Events;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class FailureDetectionTests
{
    private sealed class Worker : Actor
    {
        public Worker()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq }));
        }
    }

    [Fact]
    public async Task A_member_that_stops_heartbeating_is_declared_unreachable_within_the_configured_time()
    {
        var options = TestCluster.FastDetection();
        await using var seed = await TestCluster.StartAsync("coordinator", options: options);
        await using var node = await TestCluster.StartAsync("node", options: options);
        node.ActorOf(Props.Create(() => new Worker()), "shard");
        var events = new TestProbe(seed);
        seed.Cluster.Subscribe(events.Ref);
        await node.Cluster.JoinAsync(seed.Address, TimeSpan.FromSeconds(10));
        Assert.Equal(node.Address, (await events.ExpectAsync<MemberUp>()).Member.Address);
        var shardGone = seed.WhenTerminated(seed.Resolve($"{node.Address}/user/shard"));

        var silence = Stopwatch.StartNew();
        node.Transport!.HeartbeatsSuspended = true; // the node hangs: its socket stays open, nothing more comes

        var unreachable = await events.ExpectAsync<MemberUnreachable>();
        var detectedAfter = silence.Elapsed;
        Assert.Equal(node.Address, unreachable.Member.Address);
        Assert.Contains("no heartbeat", unreachable.Reason);
        Assert.Contains(node.Address.ToString(), unreachable.Reason);
        // Silent for UnreachableAfter (1.5 s) and noticed at the next check (every 0.25 s); slack for a busy machine.
        Assert.InRange(detectedAfter, options.UnreachableAfter - 2 * options.HeartbeatInterval, options.UnreachableAfter + TimeSpan.FromSeconds(3));
        var terminated = await shardGone.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains(node.Address.ToString(), terminated.Reason);
        Assert.Empty(seed.Cluster.Members);
    }

    [Fact]
    public async Task A_raw_peer_that_goes_silent_after_the_handshake_is_dropped()
    {
        var log = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", log, TestCluster.FastDetection());
        await using var peer = await RawPeer.ConnectAsync(server.Address);
        await peer.HandshakeAsync(server.Address, TestCluster.Secret);
        var silence = Stopwatch.StartNew();

        await peer.ReadUntilClosedAsync(); // the server's heartbeats arrive, then it gives up on us

        Assert.InRange(silence.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        await log.WaitForAsync(LogEventLevel.Warning, "unreachable", "no heartbeat from nirvana://raw@127.0.0.1:1");
    }

    [Fact]
    public async Task A_member_whose_process_exits_is_reported_at_once_by_its_closed_connection()
    {
        await using var seed = await TestCluster.StartAsync("coordinator");
        var node = await TestCluster.StartAsync("node");
        var events = new TestProbe(seed);
        seed.Cluster.Subscribe(events.Ref);
        await node.Cluster.JoinAsync(seed.Address, TimeSpan.FromSeconds(10));
        await events.ExpectAsync<MemberUp>();

        var exit = Stopwatch.StartNew();
        await node.TerminateAsync();

        var unreachable = await events.ExpectAsync<MemberUnreachable>();
        Assert.Contains("is shutting down", unreachable.Reason);
        Assert.Contains("node", unreachable.Member.NodeId);
        Assert.True(exit.Elapsed < TimeSpan.FromSeconds(5), $"took {exit.Elapsed}; the 20 s heartbeat limit must not be what noticed it");
    }
}
