using Akka.Actor;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tensors;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// One stage's part of sampling sequences token by token: its layers' key/value cache, hidden states passed to the
/// next stage for every position, and at the head the samplers (sequence i with seed + i, exactly as
/// <see cref="Generator"/> in one process), whose tokens go back to the coordinator for the next position.
/// </summary>
internal sealed class StageDecode : StageSession
{
    private readonly IncrementalDecoder _decoder;
    private readonly Sampler[]? _samplers;
    private readonly int _batch;
    private readonly int _promptLength;
    // The head's [batch, vocab] logits are sampled and dropped within the step, so one buffer serves every step; a new
    // one per step (4 MB for 32 sequences of a 32k vocabulary) went to the large-object heap and grew the process by
    // a hundred MB before a full collection. Other stages' outputs travel on the data plane and must stay their own.
    private float[]? _headLogits;

    public StageDecode(BeginDecode begin, ShardWorker worker, StageCompute compute, IActorRef coordinator, IActorRef stage, string name, IDataPlane dataPlane)
        : base(begin.DecodeId, begin.Upstream, begin.Downstream, worker, compute, coordinator, stage, name, dataPlane)
    {
        if (begin.Batch <= 0 || begin.Positions <= 0 || begin.PromptLength <= 0)
            throw new InvalidDataException($"BeginDecode needs a positive batch, length and prompt length (got {begin.Batch}, {begin.Positions}, {begin.PromptLength})");
        _batch = begin.Batch;
        _promptLength = begin.PromptLength;
        _decoder = new IncrementalDecoder(worker.Shard, begin.Batch, begin.Positions);
        if (IsHead)
            _samplers = Enumerable.Range(0, begin.Batch).Select(i => new Sampler(worker.Shard.Vocab, begin.Temperature, begin.Seed + i)).ToArray();
    }

    /// <summary>Stage 0: the tokens at a position, from the coordinator.</summary>
    public void Step(DecodeStep m) => Advance(m.Position, [.. m.Tokens], null, null);

    protected override void OnPacket(DataPacket packet, bool fromUpstream)
    {
        if (packet.Kind != PacketKind.Activations || !fromUpstream)
            throw new DataPlaneException($"a {packet.Kind} packet arrived on the {(fromUpstream ? "upstream" : "downstream")} link of stage {Name} while decoding");
        Advance(packet.MicroBatch, null, packet.Tensor("hidden").AsFloats(), packet.Find("hidden"));
    }

    private void Advance(int position, int[]? tokens, float[]? hidden, DataTensor? received) =>
        Queue("decoding", position, () =>
        {
            if (position != _decoder.Position)
                throw new InvalidOperationException($"decoding step for position {position} arrived at position {_decoder.Position}");
            var output = IsHead ? _headLogits ??= new float[_decoder.OutputLength] : new float[_decoder.OutputLength];
            _decoder.StepShard(tokens, hidden, output);
            Pool.Return(received);
            if (!IsHead)
            {
                SendDownstream(new DataPacket(PacketKind.Activations, Id, position, _batch, 1, [DataTensor.Floats("hidden", output, output.Length)]));
                return;
            }
            var next = new DecodedTokens { DecodeId = Id, Position = position };
            if (position + 1 >= _promptLength)
            {
                if (!NumericCheck.AllFinite(output))
                    throw new InvalidDataException(
                        $"generation step {position + 1 - _promptLength} (position {position}): the model's logits hold NaN or infinity; the weights or the config are broken");
                var vocab = Worker.Shard.Vocab;
                for (var b = 0; b < _batch; b++) next.Tokens.Add(_samplers![b].Next(output.AsSpan(b * vocab, vocab)));
            }
            Coordinator.Tell(next, Stage);
        });

    public async Task<DecodeEnded> EndAsync()
    {
        await DrainAsync();
        return new DecodeEnded { DecodeId = Id };
    }
}
