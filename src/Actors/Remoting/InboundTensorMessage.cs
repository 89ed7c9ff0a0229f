using System.Buffers;
using NirvanaCluster.Messages.Framing;
using NirvanaCluster.Messages.Tensors;
using Envelope = NirvanaCluster.Messages.Wire.Envelope;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>A message whose tensors are still arriving, one tensor at a time in descriptor order.</summary>
internal sealed class InboundTensorMessage
{
    private readonly RemotingOptions _options;
    private readonly List<TensorPayload> _tensors = [];
    private TensorAssembler _current;

    public InboundTensorMessage(Envelope envelope, RemotingOptions options)
    {
        if (envelope.Tensors.Count > options.MaxTensorsPerMessage)
            throw new WireProtocolException($"envelope of {envelope.TypeName} carries {envelope.Tensors.Count} tensors, more than the {options.MaxTensorsPerMessage} allowed");
        Envelope = envelope;
        _options = options;
        _current = Open(0);
    }

    public Envelope Envelope { get; }

    public IReadOnlyList<TensorPayload> Tensors => _tensors;

    public string CurrentName => _current.Name;

    public void AcceptChunk(TensorChunkHeader header, ReadOnlySequence<byte> data) => _current.AcceptChunk(header, data);

    /// <summary>Closes the current tensor; true when it was the last one.</summary>
    public bool Complete(TensorEndFrame end)
    {
        _tensors.Add(_current.Complete(end));
        if (_tensors.Count == Envelope.Tensors.Count)
            return true;
        _current = Open(_tensors.Count);
        return false;
    }

    private TensorAssembler Open(int index) =>
        new(Envelope.Tensors[index], _options.MaxTensorBytes, _options.MaxFrameBytes - FrameHeader.Size - TensorChunkHeader.Size);
}
