using System.Buffers;
using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Actors.Tests.Messages;

public class FrameHeaderTests
{
    private static ReadOnlySequence<byte> Bytes(params byte[] bytes) => new(bytes);

    [Fact]
    public void Reads_a_frame_written_by_Write_and_leaves_the_rest()
    {
        var writer = new ArrayBufferWriter<byte>();
        FrameHeader.Write(writer, FrameKind.Envelope, 3);
        writer.Write(new byte[] { 7, 8, 9 });
        FrameHeader.Write(writer, FrameKind.Heartbeat, 0);
        // Layout by hand: length 4 (kind + 3 body bytes) little-endian, kind 3, body.
        Assert.Equal(new byte[] { 4, 0, 0, 0, 3, 7, 8, 9, 1, 0, 0, 0, 2 }, writer.WrittenSpan.ToArray());

        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        Assert.True(FrameHeader.TryRead(ref buffer, 1024, out var kind, out var body));
        Assert.Equal(FrameKind.Envelope, kind);
        Assert.Equal(new byte[] { 7, 8, 9 }, body.ToArray());
        Assert.True(FrameHeader.TryRead(ref buffer, 1024, out kind, out body));
        Assert.Equal(FrameKind.Heartbeat, kind);
        Assert.True(body.IsEmpty);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void An_incomplete_frame_asks_for_more_without_consuming()
    {
        var buffer = Bytes(4, 0, 0, 0, 3, 7);
        Assert.False(FrameHeader.TryRead(ref buffer, 1024, out _, out _));
        Assert.Equal(6, buffer.Length);
        var tiny = Bytes(4, 0);
        Assert.False(FrameHeader.TryRead(ref tiny, 1024, out _, out _));
    }

    [Fact]
    public void Oversized_zero_length_and_unknown_kind_frames_are_protocol_violations()
    {
        var oversized = Bytes(1, 0, 1, 0, 3); // 65537 bytes
        Assert.Contains("exceeds the maximum frame size of 65536", Assert.Throws<WireProtocolException>(() => FrameHeader.TryRead(ref oversized, 65536, out _, out _)).Message);
        var empty = Bytes(0, 0, 0, 0, 3);
        Assert.Contains("length 0", Assert.Throws<WireProtocolException>(() => FrameHeader.TryRead(ref empty, 65536, out _, out _)).Message);
        var unknown = Bytes(1, 0, 0, 0, 99);
        Assert.Contains("unknown frame kind 99", Assert.Throws<WireProtocolException>(() => FrameHeader.TryRead(ref unknown, 65536, out _, out _)).Message);
    }
}
