using System.Buffers.Binary;
using System.Net.Sockets;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Clustering.DataPlane;

/// <summary>
/// A data-plane link over one TCP connection, after the token handshake. A packet is a Packet frame naming its
/// tensors, then each tensor's bytes in Chunk frames, each carrying the CRC-32C of its data. Sends and receives go
/// straight between the socket and the tensors' arrays: one copy each way, as a bare socket would do.
/// </summary>
internal sealed class TcpDataLink : IDataLink
{
    /// <summary>4 MiB: few enough frames that their headers and checks cost nothing next to the bytes.</summary>
    public const int DefaultChunkSize = 4 << 20;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _sending = new(1, 1);
    private readonly byte[] _sendHeader = new byte[DataFrames.HeaderSize + DataFrames.ChunkOverhead];
    private readonly byte[] _receiveHeader = new byte[DataFrames.HeaderSize + DataFrames.ChunkOverhead];
    private readonly int _chunkSize;
    private bool _closed;

    public TcpDataLink(Socket socket, string peer, int chunkSize = DefaultChunkSize)
    {
        if (chunkSize is <= 0 or > DataFrames.MaxChunkSize) throw new ArgumentOutOfRangeException(nameof(chunkSize));
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _chunkSize = chunkSize;
        Peer = peer;
    }

    public string Peer { get; internal set; }

    public static void Tune(Socket socket)
    {
        socket.NoDelay = true;
        socket.SendBufferSize = 4 << 20;
        socket.ReceiveBufferSize = 4 << 20;
    }

    internal Stream Stream => _stream;

    public async ValueTask SendAsync(DataPacket packet, CancellationToken cancellation)
    {
        var header = new Packet
        {
            Kind = packet.Kind, PassId = packet.PassId, MicroBatch = packet.MicroBatch, Batch = packet.Batch,
            Positions = packet.Positions, ChunkSize = (uint)_chunkSize, Variant = packet.Variant,
        };
        foreach (var t in packet.Tensors)
        {
            var th = new TensorHeader { Name = t.Name, Type = t.Type, ByteLength = (ulong)t.ByteLength };
            th.Shape.AddRange(t.Shape);
            header.Tensors.Add(th);
        }
        await _sending.WaitAsync(cancellation);
        try
        {
            if (_closed) throw new DataPlaneException($"link to {Peer} is closed");
            await DataFrames.WriteMessageAsync(_stream, FrameKind.Packet, header, cancellation);
            foreach (var t in packet.Tensors)
            {
                var bytes = ArrayBytes.Of(t.Data);
                for (var offset = 0L; offset < t.ByteLength; offset += _chunkSize)
                {
                    var chunk = bytes.Slice((int)offset, (int)Math.Min(_chunkSize, t.ByteLength - offset));
                    DataFrames.WriteHeader(_sendHeader, FrameKind.Chunk, DataFrames.ChunkOverhead + chunk.Length);
                    BinaryPrimitives.WriteUInt32LittleEndian(_sendHeader.AsSpan(DataFrames.HeaderSize), Crc32C.Compute(chunk.Span));
                    await _stream.WriteAsync(_sendHeader, cancellation);
                    await _stream.WriteAsync(chunk, cancellation);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException && e is not DataPlaneException)
        {
            throw new DataPlaneException($"sending {packet.Kind} of micro-batch {packet.MicroBatch} to {Peer} failed: {e.Message}", e);
        }
        finally
        {
            _sending.Release();
        }
    }

    public async ValueTask<DataPacket?> ReceiveAsync(CancellationToken cancellation, TensorPool? pool = null)
    {
        try
        {
            var frame = await DataFrames.ReadHeaderAsync(_stream, _receiveHeader, DataFrames.MaxControlFrame, cancellation);
            if (frame is null) throw new DataPlaneException($"{Peer} closed the link without a Close frame");
            var (kind, length) = frame.Value;
            if (kind == FrameKind.Close) return null;
            if (kind != FrameKind.Packet) throw new WireProtocolException($"expected a Packet frame from {Peer}, got {kind}");
            var header = await DataFrames.ReadMessageAsync(_stream, length, Packet.Parser, cancellation);
            if (header.ChunkSize is 0 or > DataFrames.MaxChunkSize)
                throw new WireProtocolException($"packet from {Peer} announces chunks of {header.ChunkSize} bytes (allowed: 1..{DataFrames.MaxChunkSize})");
            var tensors = new List<DataTensor>(header.Tensors.Count);
            foreach (var th in header.Tensors)
            {
                var tensor = Allocate(th, pool);
                await ReceiveBytesAsync(tensor, (int)header.ChunkSize, cancellation);
                tensors.Add(tensor);
            }
            return new DataPacket(header.Kind, header.PassId, header.MicroBatch, header.Batch, header.Positions, tensors, header.Variant);
        }
        catch (WireProtocolException e)
        {
            throw new DataPlaneException($"bad data from {Peer}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException && e is not DataPlaneException)
        {
            throw new DataPlaneException($"receiving from {Peer} failed: {e.Message}", e);
        }
    }

    /// <summary>Checks a tensor header against itself before allocating anything for it.</summary>
    private DataTensor Allocate(TensorHeader th, TensorPool? pool)
    {
        if (th.Type is not (TensorType.F32 or TensorType.I32 or TensorType.Bf16 or TensorType.F16))
            throw new WireProtocolException($"tensor '{th.Name}' has unknown type {th.Type}");
        long count = 1;
        foreach (var d in th.Shape)
        {
            if (d < 0) throw new WireProtocolException($"tensor '{th.Name}' has a negative dimension");
            count = checked(count * d);
        }
        if (count > Array.MaxLength) throw new WireProtocolException($"tensor '{th.Name}' has {count} elements, more than one array can hold");
        var expected = count * DataTensor.ElementSize(th.Type);
        if ((ulong)expected != th.ByteLength)
            throw new WireProtocolException($"tensor '{th.Name}' announces {th.ByteLength} bytes but its shape [{string.Join(", ", th.Shape)}] of {th.Type} needs {expected}");
        return new DataTensor(th.Name, th.Type, [.. th.Shape], pool?.Rent(th.Type, count) ?? DataTensor.Allocate(th.Type, count));
    }

    private async ValueTask ReceiveBytesAsync(DataTensor tensor, int chunkSize, CancellationToken cancellation)
    {
        var bytes = ArrayBytes.Of(tensor.Data);
        var total = tensor.ByteLength;
        var header = _receiveHeader.AsMemory(0, DataFrames.HeaderSize + DataFrames.ChunkOverhead);
        for (long offset = 0, index = 0; offset < total; index++)
        {
            // A chunk frame's header and its CRC in one read: [u32 length][u8 kind][u32 CRC-32C].
            await _stream.ReadExactlyAsync(header, cancellation);
            var kind = (FrameKind)_receiveHeader[4];
            if (kind != FrameKind.Chunk) throw new WireProtocolException($"expected chunk {index} of tensor '{tensor.Name}', got a frame of kind {_receiveHeader[4]}");
            var length = (long)BinaryPrimitives.ReadUInt32LittleEndian(_receiveHeader) - 1 - DataFrames.ChunkOverhead;
            var expected = Math.Min(chunkSize, total - offset);
            if (length != expected) throw new WireProtocolException($"chunk {index} of tensor '{tensor.Name}' has {length} bytes, expected {expected}");
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(_receiveHeader.AsSpan(DataFrames.HeaderSize));
            var target = bytes.Slice((int)offset, (int)length);
            await _stream.ReadExactlyAsync(target, cancellation);
            var actual = Crc32C.Compute(target.Span);
            if (actual != crc) throw new WireProtocolException($"chunk {index} of tensor '{tensor.Name}' fails its CRC-32C check (0x{actual:X8}, sent 0x{crc:X8})");
            offset += length;
        }
    }

    public async ValueTask CloseAsync(CancellationToken cancellation)
    {
        await _sending.WaitAsync(cancellation);
        try
        {
            if (_closed) return;
            _closed = true;
            DataFrames.WriteHeader(_sendHeader, FrameKind.Close, 0);
            await _stream.WriteAsync(_sendHeader.AsMemory(0, DataFrames.HeaderSize), cancellation);
            await _stream.FlushAsync(cancellation);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The peer is gone already; there is nobody left to tell.
        }
        finally
        {
            _sending.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync(CancellationToken.None);
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        await _stream.DisposeAsync();
        _sending.Dispose();
    }
}
