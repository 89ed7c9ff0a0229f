using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NirvanaCluster.Actors.Cluster;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting;
using NirvanaCluster.Actors.Tests.Protos;
using NirvanaCluster.Actors.Tests.Support;
using Serilog.Events;

namespace NirvanaCluster.Actors.Tests.Remoting;

public class TlsTests
{
    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }

    private sealed class Echo : Actor
    {
        public Echo()
        {
            Receive<Ping>(p => Sender.Tell(new Pong { Seq = p.Seq, Text = p.Text }));
        }
    }

    [Theory]
    [InlineData(RemotingListener.Sockets)]
    [InlineData(RemotingListener.Kestrel)]
    public async Task Members_sharing_the_cluster_certificate_talk_over_TLS(RemotingListener listener)
    {
        var tls = new RemotingTls(SelfSigned("nirvana-cluster"));
        await using var server = await TestCluster.StartAsync("server", options: TestCluster.Options(listener) with { Tls = tls });
        await using var client = await TestCluster.StartAsync("client", options: TestCluster.Options() with { Tls = tls });
        var echo = server.ActorOf(Props.Create(() => new Echo()), "echo");

        var pong = await client.Resolve(echo.Path).Ask<Pong>(new Ping { Seq = 3, Text = "over tls" }, TimeSpan.FromSeconds(20));

        Assert.Equal("over tls", pong.Text);
    }

    [Fact]
    public async Task A_server_with_an_untrusted_certificate_is_refused_by_the_client()
    {
        await using var server = await TestCluster.StartAsync("server", options: TestCluster.Options() with { Tls = new RemotingTls(SelfSigned("impostor")) });
        await using var client = await TestCluster.StartAsync("client", options: TestCluster.Options() with { Tls = new RemotingTls(SelfSigned("nirvana-cluster")) });

        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => client.Cluster.JoinAsync(server.Address, TimeSpan.FromSeconds(20)));

        Assert.Contains("TLS", e.Message);
        Assert.Contains("thumbprint", e.Message);
    }

    [Fact]
    public async Task A_plain_TCP_peer_cannot_talk_to_a_TLS_server()
    {
        var log = new LogCapture();
        await using var server = await TestCluster.StartAsync("server", log, TestCluster.Options() with { Tls = new RemotingTls(SelfSigned("nirvana-cluster")) });
        await using var peer = await RawPeer.ConnectAsync(server.Address);

        await Assert.ThrowsAnyAsync<Exception>(() => peer.HandshakeAsync(server.Address, TestCluster.Secret).WaitAsync(TimeSpan.FromSeconds(20)));
        await log.WaitForAsync(LogEventLevel.Warning, "Refused connection from", "TLS failed");
    }

    [Fact]
    public void A_certificate_file_that_cannot_be_read_is_named_in_the_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => RemotingTls.FromPkcs12File("/nonexistent/cluster.pfx"));
        Assert.Contains("/nonexistent/cluster.pfx", e.Message);
    }
}
