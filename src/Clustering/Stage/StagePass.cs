using Akka.Actor;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// One pass of one stage over micro-batches: activations come in from upstream (or as tokens from the coordinator at
/// stage 0) and go straight to the next stage; gradients come back from downstream and go straight to the previous
/// one. The coordinator hears only the head's result and stage 0's end of backward.
/// </summary>
internal sealed class StagePass : StageSession
{
    private readonly TimeSpan _busyBefore;

    public ObjectiveKind Objective { get; }
    public int TotalSequences { get; }

    public StagePass(BeginPass begin, ShardWorker worker, StageCompute compute, IActorRef coordinator, IActorRef stage, string name, IDataPlane dataPlane)
        : base(begin.PassId, begin.Upstream, begin.Downstream, worker, compute, coordinator, stage, name, dataPlane)
    {
        Objective = Protocol.ProtocolMapping.FromProto(begin.Objective);
        TotalSequences = begin.TotalSequences;
        _busyBefore = worker.BusyTime;
    }

    /// <summary>Stage 0: a micro-batch's tokens from the coordinator.</summary>
    public void Run(RunMicroBatch m) => Forward(m.MicroBatch, m.Variant, [.. m.Tokens], null, m.Batch, m.Positions, null);

    protected override void OnPacket(DataPacket packet, bool fromUpstream)
    {
        switch (packet.Kind)
        {
            case PacketKind.Activations when fromUpstream:
                Forward(packet.MicroBatch, packet.Variant, packet.Tensor("tokens").AsInts(), packet.Tensor("hidden").AsFloats(), packet.Batch, packet.Positions, packet.Find("hidden"));
                break;
            case PacketKind.Gradient when !fromUpstream:
                Backward(packet.MicroBatch, packet.Tensor("grad"), packet.Batch, packet.Positions);
                break;
            default:
                throw new DataPlaneException($"a {packet.Kind} packet arrived on the {(fromUpstream ? "upstream" : "downstream")} link of stage {Name}");
        }
    }

    /// <param name="received">the packet's hidden-state tensor, handed back to the pool once the forward has copied it</param>
    private void Forward(int microBatch, int variant, int[] tokens, float[]? hidden, int batch, int positions, DataTensor? received) =>
        Queue("forward", microBatch, () =>
        {
            FaultInjection.At("forward", microBatch);
            if (IsHead && Objective.HasGradient()) FaultInjection.At("backward", microBatch); // the head's backward runs inside its forward step
            var step = Worker.Forward(microBatch, tokens, hidden, batch, positions, Objective, TotalSequences, variant);
            Pool.Return(received);
            if (IsHead)
            {
                var result = new HeadResult { PassId = Id, MicroBatch = microBatch, Objective = step.Objective, Variant = variant };
                if (step.SequenceNll is { } nll) result.SequenceNll.AddRange(nll);
                if (step.SequenceKl is { } kl) result.SequenceKl.AddRange(kl);
                Coordinator.Tell(result, Stage);
                if (!Objective.HasGradient()) return;
                // The head has run its own backward already; step.Tensor is dx for the stage before it.
                if (IsFirst) Coordinator.Tell(new BackwardDone { PassId = Id, MicroBatch = microBatch }, Stage);
                else SendUpstream(new DataPacket(PacketKind.Gradient, Id, microBatch, batch, positions,
                    [DataTensor.Floats("grad", step.Tensor, step.Tensor.Length)]));
            }
            else
                SendDownstream(new DataPacket(PacketKind.Activations, Id, microBatch, batch, positions,
                    [DataTensor.Ints("tokens", tokens, tokens.Length), DataTensor.Floats("hidden", step.Tensor, step.Tensor.Length)], variant));
        });

    private void Backward(int microBatch, DataTensor gradient, int batch, int positions) =>
        Queue("backward", microBatch, () =>
        {
            FaultInjection.At("backward", microBatch);
            // The backward works in place: dx for the stage before is the received array itself.
            var dx = Worker.Backward(microBatch, gradient.AsFloats());
            if (IsFirst) Coordinator.Tell(new BackwardDone { PassId = Id, MicroBatch = microBatch }, Stage);
            else SendUpstream(new DataPacket(PacketKind.Gradient, Id, microBatch, batch, positions, [DataTensor.Floats("grad", dx!, dx!.Length)]));
            Pool.Return(gradient);
        });

    /// <summary>Ends the pass: waits for queued work, closes the links, returns the stage's busy time.</summary>
    public async Task<PassEnded> EndAsync()
    {
        await DrainAsync();
        return new PassEnded { PassId = Id, BusySeconds = (Worker.BusyTime - _busyBefore).TotalSeconds, PeakBytes = ProcessMemory.PeakResidentBytes() };
    }
}
