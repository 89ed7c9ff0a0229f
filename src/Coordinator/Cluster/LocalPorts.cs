using System.Net;
using System.Net.Sockets;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>A free loopback port, for a member that must know its own address before it starts (the seed).</summary>
internal static class LocalPorts
{
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
