using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Tests.Support;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Cluster;

namespace NirvanaCluster.Actors.Tests.Cluster;

public class MembershipTests
{
    [Fact]
    public async Task A_node_joins_the_seed_and_both_see_each_other_with_the_announced_info()
    {
        await using var seed = await TestCluster.StartAsync("coordinator", options: TestCluster.Options() with { NodeId = "coord" });
        await using var node = await TestCluster.StartAsync("node", options: TestCluster.Options() with { NodeId = "node-7", MemoryBudgetBytes = 12L << 30, Device = "cuda:0" });
        var events = new TestProbe(seed);
        seed.Cluster.Subscribe(events.Ref);

        var welcome = await node.Cluster.JoinAsync(seed.Address, TimeSpan.FromSeconds(10));

        Assert.Equal(ProtocolVersion.Current, welcome.ProtocolVersion);
        Assert.Equal("coord", welcome.Seed.NodeId);
        Assert.Equal(Environment.ProcessId, welcome.Seed.Pid);
        Assert.Contains(welcome.Members, m => m.NodeId == "node-7");
        var up = await events.ExpectAsync<MemberUp>();
        Assert.Equal(new MemberInfo("node-7", node.Address, Environment.MachineName, Environment.ProcessId, 12L << 30, "cuda:0"), up.Member);
        Assert.Equal("coord", Assert.Single(node.Cluster.Members).NodeId);

        // A late subscriber first hears of the members already up.
        var late = new TestProbe(seed);
        seed.Cluster.Subscribe(late.Ref);
        Assert.Equal("node-7", (await late.ExpectAsync<MemberUp>()).Member.NodeId);
    }

    [Fact]
    public async Task A_join_with_another_protocol_version_is_refused_with_the_reason()
    {
        await using var seed = await TestCluster.StartAsync("coordinator");
        await using var node = await TestCluster.StartAsync("node");
        var daemon = node.Resolve($"{seed.Address}/system/cluster");

        var reply = await daemon.Ask<JoinRefused>(new Join { ProtocolVersion = 99, Node = new NodeInfo { NodeId = "old" } }, TimeSpan.FromSeconds(10));

        Assert.Contains("protocol version 99", reply.Reason);
        Assert.Empty(seed.Cluster.Members);
    }

    [Fact]
    public async Task Joining_a_seed_that_is_not_there_fails_naming_it()
    {
        await using var node = await TestCluster.StartAsync("node");
        var nobody = new Address("coordinator", "127.0.0.1", 1);
        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => node.Cluster.JoinAsync(nobody, TimeSpan.FromSeconds(10)));
        Assert.Contains(nobody.ToString(), e.Message);
    }

    [Fact]
    public void A_local_only_system_has_no_cluster()
    {
        var system = ActorSystem.Create("local");
        Assert.Contains("StartAsync", Assert.Throws<InvalidOperationException>(() => system.Cluster).Message);
    }
}
