namespace NirvanaCluster.Coordinator.Tests.Cluster;

/// <summary>
/// Tests that start a coordinator and node processes run one at a time: on a 2-core machine two clusters at once
/// would be measuring each other, and a failure detector tuned for seconds should not be tested against that.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterProcesses
{
    public const string Name = "cluster processes";
}
