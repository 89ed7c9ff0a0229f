using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// The four-step handshake that opens every connection: Hello (version, address, nonce) -> Challenge (version,
/// address, nonce) -> Authenticate (client HMAC) -> Accepted (server HMAC). Each side proves it holds the cluster
/// secret without sending it; the fresh nonces stop replays. Any failure refuses the connection with a reason.
/// </summary>
internal static class HandshakeProtocol
{
    private const int NonceBytes = 32;
    private static readonly byte[] ClientLabel = "nirvana-client"u8.ToArray();
    private static readonly byte[] ServerLabel = "nirvana-server"u8.ToArray();

    /// <summary>Server side. Returns the authenticated peer's address; throws <see cref="HandshakeRefusedException"/> after telling the peer why.</summary>
    public static async Task<Address> AcceptAsync(IDuplexPipe pipe, Address self, ClusterSecret secret, CancellationToken cancellation)
    {
        var first = await PipeFrames.ReadHandshakeAsync(pipe.Input, cancellation);
        if (first.Hello is not { } hello)
            throw await RefuseAsync(pipe, $"expected Hello first, got {first.StepCase}", cancellation);
        if (hello.ProtocolVersion != ProtocolVersion.Current)
            throw await RefuseAsync(pipe, $"protocol version {hello.ProtocolVersion} is not supported; this node ({self}) speaks version {ProtocolVersion.Current}", cancellation);
        if (!Address.TryParse(hello.Address, out var peer) || !peer.IsRemotable)
            throw await RefuseAsync(pipe, $"Hello.address '{hello.Address}' is not of the form nirvana://system@host:port", cancellation);
        if (hello.ClientNonce.Length != NonceBytes)
            throw await RefuseAsync(pipe, $"Hello.client_nonce has {hello.ClientNonce.Length} bytes, expected {NonceBytes}", cancellation);

        var serverNonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var challenge = new Challenge
        {
            ProtocolVersion = ProtocolVersion.Current,
            Address = self.ToString(),
            ServerNonce = ByteString.CopyFrom(serverNonce),
        };
        await PipeFrames.WriteAsync(pipe.Output, FrameKind.Handshake, new Handshake { Challenge = challenge }, cancellation);

        var second = await PipeFrames.ReadHandshakeAsync(pipe.Input, cancellation);
        if (second.Authenticate is not { } authenticate)
            throw await RefuseAsync(pipe, $"expected Authenticate from {peer}, got {second.StepCase}", cancellation);
        var expected = Proof(secret, ClientLabel, serverNonce, hello.ClientNonce.Span, hello.Address);
        if (!CryptographicOperations.FixedTimeEquals(expected, authenticate.ClientProof.Span))
            throw await RefuseAsync(pipe, $"authentication failed for {peer}: its proof does not match the cluster secret", cancellation);

        var accepted = new Accepted { ServerProof = ByteString.CopyFrom(Proof(secret, ServerLabel, hello.ClientNonce.Span, serverNonce, challenge.Address)) };
        await PipeFrames.WriteAsync(pipe.Output, FrameKind.Handshake, new Handshake { Accepted = accepted }, cancellation);
        return peer;
    }

    /// <summary>Client side. Returns the server's canonical address; throws <see cref="HandshakeRefusedException"/> when refused or when the server fails to authenticate.</summary>
    public static async Task<Address> ConnectAsync(IDuplexPipe pipe, Address self, Address target, ClusterSecret secret, CancellationToken cancellation)
    {
        var clientNonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var hello = new Hello { ProtocolVersion = ProtocolVersion.Current, Address = self.ToString(), ClientNonce = ByteString.CopyFrom(clientNonce) };
        await PipeFrames.WriteAsync(pipe.Output, FrameKind.Handshake, new Handshake { Hello = hello }, cancellation);

        var first = await PipeFrames.ReadHandshakeAsync(pipe.Input, cancellation);
        if (first.Refused is { } refusedEarly)
            throw new HandshakeRefusedException($"{target} refused the connection: {refusedEarly.Reason}");
        if (first.Challenge is not { } challenge)
            throw new WireProtocolException($"expected Challenge from {target}, got {first.StepCase}");
        if (challenge.ProtocolVersion != ProtocolVersion.Current)
            throw new HandshakeRefusedException($"{target} speaks protocol version {challenge.ProtocolVersion}; this node speaks {ProtocolVersion.Current}");
        if (!Address.TryParse(challenge.Address, out var server) || server.System != target.System)
            throw new HandshakeRefusedException($"dialed {target} but reached '{challenge.Address}'");
        if (challenge.ServerNonce.Length != NonceBytes)
            throw new WireProtocolException($"Challenge.server_nonce from {target} has {challenge.ServerNonce.Length} bytes, expected {NonceBytes}");

        var proof = Proof(secret, ClientLabel, challenge.ServerNonce.Span, clientNonce, hello.Address);
        await PipeFrames.WriteAsync(pipe.Output, FrameKind.Handshake, new Handshake { Authenticate = new Authenticate { ClientProof = ByteString.CopyFrom(proof) } }, cancellation);

        var second = await PipeFrames.ReadHandshakeAsync(pipe.Input, cancellation);
        if (second.Refused is { } refused)
            throw new HandshakeRefusedException($"{target} refused the connection: {refused.Reason}");
        if (second.Accepted is not { } accepted)
            throw new WireProtocolException($"expected Accepted from {target}, got {second.StepCase}");
        var expected = Proof(secret, ServerLabel, clientNonce, challenge.ServerNonce.Span, challenge.Address);
        if (!CryptographicOperations.FixedTimeEquals(expected, accepted.ServerProof.Span))
            throw new HandshakeRefusedException($"{target} failed authentication: its proof does not match the cluster secret");
        return server;
    }

    internal static byte[] Proof(ClusterSecret secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> firstNonce, ReadOnlySpan<byte> secondNonce, string address)
    {
        var addressBytes = Encoding.UTF8.GetBytes(address);
        var data = new byte[label.Length + firstNonce.Length + secondNonce.Length + addressBytes.Length];
        label.CopyTo(data);
        firstNonce.CopyTo(data.AsSpan(label.Length));
        secondNonce.CopyTo(data.AsSpan(label.Length + firstNonce.Length));
        addressBytes.CopyTo(data.AsSpan(label.Length + firstNonce.Length + secondNonce.Length));
        return HMACSHA256.HashData(secret.Key, data);
    }

    private static async Task<HandshakeRefusedException> RefuseAsync(IDuplexPipe pipe, string reason, CancellationToken cancellation)
    {
        try
        {
            await PipeFrames.WriteAsync(pipe.Output, FrameKind.Handshake, new Handshake { Refused = new Refused { Reason = reason } }, cancellation);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The peer may already be gone; the refusal is logged on this side regardless.
        }
        return new HandshakeRefusedException(reason);
    }
}
