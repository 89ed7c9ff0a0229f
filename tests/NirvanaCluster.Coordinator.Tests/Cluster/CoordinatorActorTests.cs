using Akka.Actor;
using Akka.Configuration;
using NirvanaCluster.Coordinator.Cluster;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Pruning;

namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>The coordinator's membership desk: who may register, and what it says to those who may not.</summary>
public sealed class CoordinatorActorTests() : Akka.TestKit.Xunit2.TestKit(ConfigurationFactory.ParseString("""
    akka.actor.provider = cluster
    akka.remote.dot-netty.tcp.hostname = 127.0.0.1
    akka.remote.dot-netty.tcp.port = 0
    akka.loglevel = WARNING
    """))
{
    private static RegisterNode Registration(string name, uint version = ProtocolVersion.Current) => new()
    {
        ProtocolVersion = version, Name = name, Host = "h", Pid = 1, MemoryBudgetBytes = 1 << 30, DataEndpoint = "h:7702",
    };

    [Fact]
    public void A_node_of_another_protocol_version_is_refused_naming_both_versions()
    {
        var directory = new NodeDirectory();
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(directory));
        coordinator.Tell(Registration("old-node", ProtocolVersion.Current - 1), TestActor);
        var refused = ExpectMsg<RegistrationRefused>();
        Assert.Contains($"protocol version {ProtocolVersion.Current - 1}", refused.Reason);
        Assert.Contains($"speaks {ProtocolVersion.Current}", refused.Reason);
        Assert.Equal(0, directory.Count);
    }

    [Fact]
    public void Registered_nodes_are_counted_once_and_a_second_node_of_the_same_name_is_refused()
    {
        var directory = new NodeDirectory();
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(directory));
        coordinator.Tell(Registration("node-a"), TestActor);
        Assert.Equal(ProtocolVersion.Current, ExpectMsg<NodeRegistered>().ProtocolVersion);
        coordinator.Tell(Registration("node-a"), TestActor); // a retry from the same node is welcome again
        ExpectMsg<NodeRegistered>();
        Assert.Equal(1, directory.Count);
        // The same name from another address is another node: refused.
        var clash = directory.TryAdd(new NodeInfo("node-a", Address.Parse("akka.ssl.tcp://nirvana@other:1"), "h", 2, 1, "x:1"));
        Assert.Contains("already registered", clash);
    }

    [Fact]
    public void A_registration_without_budget_or_data_endpoint_is_refused()
    {
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(new NodeDirectory()));
        coordinator.Tell(Registration("fine"), TestActor);
        ExpectMsg<NodeRegistered>();
        var broken = Registration("broken");
        broken.DataEndpoint = "";
        coordinator.Tell(broken, TestActor);
        Assert.Contains("data-plane endpoint", ExpectMsg<RegistrationRefused>().Reason);
    }
}
