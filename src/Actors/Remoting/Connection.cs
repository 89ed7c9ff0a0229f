using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using NirvanaCluster.Actors.Core;
using NirvanaCluster.Actors.Remoting.Transports;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Tensors;
using NirvanaCluster.Messages.Wire;
using Serilog;
using Envelope = NirvanaCluster.Messages.Wire.Envelope;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// One authenticated connection after its handshake: a reader loop that parses frames and hands complete messages
/// to the transport, a writer loop that drains an outbox, and a watchdog that sends heartbeats and declares the
/// peer unreachable when nothing has arrived for <see cref="RemotingOptions.UnreachableAfter"/>. The first loop to
/// end ends the connection; <see cref="RunAsync"/> returns why.
/// </summary>
internal sealed class Connection
{
    private const int FlushThresholdBytes = 256 << 10;
    private const long ProgressWakeBytes = 1 << 20;

    private readonly RemoteTransport _transport;
    private readonly ITransportConnection _link;
    private readonly IDuplexPipe _pipe;
    private readonly ChannelReader<Outbound> _outbox;
    private readonly ChannelWriter<Outbound> _heartbeats;
    private readonly RemotingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastHeard;
    private InboundTensorMessage? _inbound;
    private volatile bool _peerClosed;

    public Connection(RemoteTransport transport, Address peer, ITransportConnection link, ChannelReader<Outbound> outbox, ChannelWriter<Outbound> heartbeats)
    {
        _transport = transport;
        Peer = peer;
        _link = link;
        _pipe = link.Pipe;
        _outbox = outbox;
        _heartbeats = heartbeats;
        _options = transport.Options;
        _time = transport.System.TimeProvider;
        _log = transport.Log.ForContext("Peer", peer.ToString());
        _lastHeard = _time.GetTimestamp();
    }

    public Address Peer { get; }

    /// <summary>Ends the connection from this side.</summary>
    public void Close(string reason) => _closed.TrySetResult(reason);

    /// <summary>Runs until the connection ends; returns the reason, naming the peer. Never throws. Call <see cref="CloseAsync"/> next.</summary>
    public async Task<string> RunAsync()
    {
        var token = _stop.Token;
        var loops = new[] { GuardAsync(ReadLoopAsync(token), token), GuardAsync(WriteLoopAsync(token), token), GuardAsync(WatchdogAsync(token), token), _closed.Task };
        var first = await await Task.WhenAny(loops);
        _closed.TrySetResult(first);
        var reason = await _closed.Task; // a reason given to Close wins over the loop it made stop
        _stop.Cancel();
        _pipe.Input.CancelPendingRead();
        _pipe.Output.CancelPendingFlush();
        await Task.WhenAll(loops);
        return reason;
    }

    /// <summary>
    /// Closes gracefully: tells a still-listening peer why (a Disconnect frame), sends FIN, and reads until the peer's
    /// FIN (at most a second) so that no unread bytes turn our close into a reset that would swallow the reason.
    /// </summary>
    public async Task CloseAsync(string reason)
    {
        try
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            if (!_peerClosed)
            {
                ProtobufFrames.Write(_pipe.Output, FrameKind.Disconnect, new Disconnect { Reason = reason });
                await _pipe.Output.FlushAsync(grace.Token);
            }
            await _pipe.Output.CompleteAsync();
            await _link.ShutdownSendAsync();
            while (!_peerClosed)
            {
                var result = await _pipe.Input.ReadAsync(grace.Token);
                _pipe.Input.AdvanceTo(result.Buffer.End);
                _peerClosed = result.IsCompleted;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidOperationException or ObjectDisposedException or ConnectionResetException)
        {
            // Best effort: a peer that cannot hear the reason learns from the closed socket instead.
        }
        try
        {
            await _pipe.Output.CompleteAsync();
            await _pipe.Input.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Already broken: closed either way.
        }
    }

    private async Task<string> GuardAsync(Task<string> loop, CancellationToken token)
    {
        try
        {
            return await loop;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return "connection closed locally";
        }
        catch (WireProtocolException e)
        {
            _log.Warning("Closing connection to {Peer}: {Reason}", Peer, e.Message);
            return $"protocol violation by {Peer}: {e.Message}";
        }
        catch (Exception e) when (e is IOException or SocketException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            return $"connection to {Peer} lost: {e.Message}";
        }
        catch (Exception e)
        {
            // A bug must cost this connection, never the process.
            _log.Error(e, "Connection to {Peer} failed", Peer);
            return $"connection to {Peer} failed: {e.GetType().Name}: {e.Message}";
        }
    }

    private async Task<string> ReadLoopAsync(CancellationToken token)
    {
        var input = _pipe.Input;
        var needed = 1L;
        while (true)
        {
            // Waiting for the whole pending frame, not for every packet of it, saves hundreds of wake-ups per chunk.
            var result = _link.WaitsForWholeFrames
                ? await input.ReadAtLeastAsync((int)Math.Min(needed, int.MaxValue), token)
                : await input.ReadAsync(token);
            if (result.IsCanceled)
                return "connection closed locally";
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
                Volatile.Write(ref _lastHeard, _time.GetTimestamp());
            string? disconnected = null;
            try
            {
                long pending = 1;
                while (disconnected is null && FrameHeader.TryRead(ref buffer, _options.MaxFrameBytes, out var kind, out var body, out pending))
                    disconnected = HandleFrame(kind, body);
                // Wake at least every MiB of progress so a huge frame on a slow link still counts as liveness.
                needed = Math.Clamp(pending, buffer.Length + 1, buffer.Length + ProgressWakeBytes);
            }
            catch (Exception e) when (e is IOException or SocketException or ConnectionResetException)
            {
                _peerClosed = true;
                throw;
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
            if (disconnected is not null)
            {
                _peerClosed = true;
                return disconnected;
            }
            if (result.IsCompleted)
            {
                _peerClosed = true;
                return buffer.IsEmpty ? $"connection closed by {Peer}" : $"connection closed by {Peer} in the middle of a frame";
            }
        }
    }

    /// <summary>Handles one frame; returns the peer's reason when it is a Disconnect, else null.</summary>
    private string? HandleFrame(FrameKind kind, ReadOnlySequence<byte> body)
    {
        switch (kind)
        {
            case FrameKind.Heartbeat:
                return null;
            case FrameKind.Disconnect:
                return $"{Peer} disconnected: {ProtobufFrames.Parse(Disconnect.Parser, kind, body).Reason}";
            case FrameKind.Envelope:
                if (_inbound is not null)
                    throw new WireProtocolException($"new envelope while tensor '{_inbound.CurrentName}' of the previous message was incomplete");
                var envelope = ProtobufFrames.Parse(Envelope.Parser, kind, body);
                if (envelope.Tensors.Count == 0)
                    _transport.DeliverInbound(this, envelope, []);
                else
                    _inbound = new InboundTensorMessage(envelope, _options);
                return null;
            case FrameKind.TensorChunk:
                var header = TensorChunkHeader.Read(body, out var data);
                (_inbound ?? throw new WireProtocolException($"tensor chunk for transfer {header.TransferId} without a preceding envelope"))
                    .AcceptChunk(header, data);
                return null;
            case FrameKind.TensorEnd:
                var end = TensorEndFrame.Read(body);
                var inbound = _inbound ?? throw new WireProtocolException($"tensor end for transfer {end.TransferId} without a preceding envelope");
                if (inbound.Complete(end))
                {
                    _inbound = null;
                    _transport.DeliverInbound(this, inbound.Envelope, inbound.Tensors);
                }
                return null;
            default:
                throw new WireProtocolException($"unexpected {kind} frame after the handshake");
        }
    }

    private async Task<string> WriteLoopAsync(CancellationToken token)
    {
        var output = _pipe.Output;
        var unflushed = 0L;
        while (await _outbox.WaitToReadAsync(token))
        {
            while (_outbox.TryRead(out var item))
            {
                switch (item)
                {
                    case OutboundHeartbeat:
                        FrameHeader.Write(output, FrameKind.Heartbeat, 0);
                        unflushed += FrameHeader.Size;
                        break;
                    case OutboundEnvelope envelope:
                        unflushed += ProtobufFrames.Write(output, FrameKind.Envelope, envelope.Envelope);
                        if (envelope.Tensors.Count > 0)
                        {
                            if (!await WriteTensorsAsync(output, envelope, token))
                                return $"{Peer} stopped reading";
                            unflushed = 0;
                        }
                        break;
                }
                if (unflushed >= FlushThresholdBytes)
                {
                    if ((await output.FlushAsync(token)).IsCompleted)
                        return $"{Peer} stopped reading";
                    unflushed = 0;
                }
            }
            if (unflushed > 0)
            {
                if ((await output.FlushAsync(token)).IsCompleted)
                    return $"{Peer} stopped reading";
                unflushed = 0;
            }
        }
        return "outbox closed";
    }

    /// <summary>Writes each tensor as checksummed chunks, flushing per chunk so memory stays bounded and the socket busy.</summary>
    private static async Task<bool> WriteTensorsAsync(PipeWriter output, OutboundEnvelope envelope, CancellationToken token)
    {
        for (var t = 0; t < envelope.Tensors.Count; t++)
        {
            var descriptor = envelope.Envelope.Tensors[t];
            var data = envelope.Tensors[t].Data;
            var chunkSize = (int)descriptor.ChunkSize;
            uint index = 0, total = 0;
            for (var offset = 0; offset < data.Length; offset += chunkSize)
            {
                var chunk = data.Slice(offset, Math.Min(chunkSize, data.Length - offset));
                var crc = TensorFrames.WriteChunk(output, descriptor.TransferId, index++, chunk.Span);
                total = Crc32C.Combine(total, crc, chunk.Length);
                if ((await output.FlushAsync(token)).IsCompleted)
                    return false;
            }
            TensorFrames.WriteEnd(output, new TensorEndFrame(descriptor.TransferId, index, total, (ulong)data.Length));
        }
        return !(await output.FlushAsync(token)).IsCompleted;
    }

    private async Task<string> WatchdogAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        while (await timer.WaitForNextTickAsync(token))
        {
            var silent = _time.GetElapsedTime(Volatile.Read(ref _lastHeard));
            if (silent >= _options.UnreachableAfter)
                return $"no heartbeat from {Peer} for {silent.TotalSeconds:F1} s (limit {_options.UnreachableAfter.TotalSeconds:F1} s)";
            if (!_transport.HeartbeatsSuspended)
                _heartbeats.TryWrite(OutboundHeartbeat.Instance);
        }
        return "watchdog stopped";
    }
}
