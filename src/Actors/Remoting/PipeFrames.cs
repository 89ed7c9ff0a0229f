using System.IO.Pipelines;
using Google.Protobuf;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Wire;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>Reading and writing single handshake frames on a pipe, before the connection's frame loops start.</summary>
internal static class PipeFrames
{
    /// <summary>Handshake frames are tiny; an unauthenticated peer gets no bigger buffer than this.</summary>
    public const int MaxHandshakeFrameBytes = 16 << 10;

    public static async ValueTask<Handshake> ReadHandshakeAsync(PipeReader reader, CancellationToken cancellation)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellation);
            var buffer = result.Buffer;
            if (FrameHeader.TryRead(ref buffer, MaxHandshakeFrameBytes, out var kind, out var body))
            {
                try
                {
                    if (kind != FrameKind.Handshake)
                        throw new WireProtocolException($"expected a handshake frame, got {kind} before the handshake completed");
                    return ProtobufFrames.Parse(Handshake.Parser, kind, body);
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start);
                }
            }
            if (result.IsCompleted)
                throw new WireProtocolException("connection closed during the handshake");
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public static async ValueTask WriteAsync(PipeWriter writer, FrameKind kind, IMessage message, CancellationToken cancellation)
    {
        ProtobufFrames.Write(writer, kind, message);
        await writer.FlushAsync(cancellation);
    }
}
