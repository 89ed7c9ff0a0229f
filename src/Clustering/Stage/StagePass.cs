using Akka.Actor;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// One pass of one stage: its data links (activations in from upstream, gradients in from downstream), and the
/// work each packet triggers on the compute thread. Activations go straight to the next stage and gradients
/// straight back to the previous one; the coordinator hears only the head's result and stage 0's end of backward.
/// Every failure is reported to the coordinator as a <see cref="StageFailure"/> naming the operation.
/// </summary>
internal sealed class StagePass : IAsyncDisposable
{
    private static readonly ILogger Log = Serilog.Log.ForContext<StagePass>();

    private readonly ShardWorker _worker;
    private readonly StageCompute _compute;
    private readonly IActorRef _coordinator;
    private readonly IActorRef _stage;
    private readonly string _name;
    private readonly CancellationTokenSource _cancel = new();
    private readonly List<Task> _readers = [];
    private readonly TimeSpan _busyBefore;
    private readonly TensorPool _pool = new();
    private IDataLink? _upstream;
    private IDataLink? _downstream;

    public long PassId { get; }
    public ObjectiveKind Objective { get; }
    public int TotalSequences { get; }
    private bool IsFirst => _worker.Shard.HasEmbedding;
    private bool IsHead => _worker.Shard.HasHead;

    public StagePass(BeginPass begin, ShardWorker worker, StageCompute compute, IActorRef coordinator, IActorRef stage, string name, IDataPlane dataPlane)
    {
        PassId = begin.PassId;
        Objective = Protocol.ProtocolMapping.FromProto(begin.Objective);
        TotalSequences = begin.TotalSequences;
        _worker = worker;
        _compute = compute;
        _coordinator = coordinator;
        _stage = stage;
        _name = name;
        _busyBefore = worker.BusyTime;
        if (begin.Upstream is { } up)
        {
            var accepted = dataPlane.Expect(up.Token.ToByteArray(), $"activations into {name}", _cancel.Token);
            _readers.Add(ReadAsync(accepted, link => _upstream = link, "upstream"));
        }
        else if (!IsFirst) throw new InvalidDataException($"stage {name} does not hold the embedding, so its pass needs an upstream link");
        if (begin.Downstream is null && !IsHead) throw new InvalidDataException($"stage {name} does not hold the head, so its pass needs a downstream link");
    }

    /// <summary>Opens the downstream link (the next stage has armed its side by now) and starts reading gradients from it.</summary>
    public async Task OpenDownstreamAsync(Link downstream, IDataPlane dataPlane)
    {
        var link = await dataPlane.ConnectAsync(downstream.Endpoint, downstream.Token.ToByteArray(), _name, _cancel.Token);
        _downstream = link;
        _readers.Add(ReadAsync(Task.FromResult(link), _ => { }, "downstream"));
    }

    /// <summary>Stage 0: a micro-batch's tokens from the coordinator.</summary>
    public void Run(RunMicroBatch m) => Forward(m.MicroBatch, [.. m.Tokens], null, m.Batch, m.Positions, null);

    /// <param name="received">the packet's hidden-state tensor, handed back to the pool once the forward has copied it</param>
    private void Forward(int microBatch, int[] tokens, float[]? hidden, int batch, int positions, DataTensor? received) =>
        _compute.Run(() =>
        {
            FaultInjection.At("forward", microBatch);
            if (IsHead && Objective.HasGradient()) FaultInjection.At("backward", microBatch); // the head's backward runs inside its forward step
            var step = _worker.Forward(microBatch, tokens, hidden, batch, positions, Objective, TotalSequences);
            _pool.Return(received);
            if (IsHead)
            {
                var result = new HeadResult { PassId = PassId, MicroBatch = microBatch, Objective = step.Objective };
                if (step.SequenceNll is { } nll) result.SequenceNll.AddRange(nll);
                _coordinator.Tell(result, _stage);
                if (!Objective.HasGradient()) return;
                // The head has run its own backward already; step.Tensor is dx for the stage before it.
                if (IsFirst) _coordinator.Tell(new BackwardDone { PassId = PassId, MicroBatch = microBatch }, _stage);
                else Send(_upstream, new DataPacket(PacketKind.Gradient, PassId, microBatch, batch, positions,
                    [DataTensor.Floats("grad", step.Tensor, step.Tensor.Length)]));
            }
            else
                Send(_downstream, new DataPacket(PacketKind.Activations, PassId, microBatch, batch, positions,
                    [DataTensor.Ints("tokens", tokens, tokens.Length), DataTensor.Floats("hidden", step.Tensor, step.Tensor.Length)]));
        }).ContinueWith(t => Fail("forward", microBatch, t.Exception!.InnerException!), TaskContinuationOptions.OnlyOnFaulted);

    private void Backward(int microBatch, DataTensor gradient, int batch, int positions) =>
        _compute.Run(() =>
        {
            FaultInjection.At("backward", microBatch);
            // The backward works in place: dx for the stage before is the received array itself.
            var dx = _worker.Backward(microBatch, gradient.AsFloats());
            if (IsFirst) _coordinator.Tell(new BackwardDone { PassId = PassId, MicroBatch = microBatch }, _stage);
            else Send(_upstream, new DataPacket(PacketKind.Gradient, PassId, microBatch, batch, positions,
                [DataTensor.Floats("grad", dx!, dx!.Length)]));
            _pool.Return(gradient);
        }).ContinueWith(t => Fail("backward", microBatch, t.Exception!.InnerException!), TaskContinuationOptions.OnlyOnFaulted);

    /// <summary>Sends from the compute thread: a full socket buffer holds the stage back, which is the backpressure we want.</summary>
    private void Send(IDataLink? link, DataPacket packet)
    {
        if (link is null) throw new InvalidOperationException($"stage {_name} has no {(packet.Kind == PacketKind.Gradient ? "upstream" : "downstream")} link open");
        link.SendAsync(packet, _cancel.Token).AsTask().GetAwaiter().GetResult();
    }

    private async Task ReadAsync(Task<IDataLink> accepting, Action<IDataLink> opened, string side)
    {
        IDataLink link;
        try
        {
            link = await accepting;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        opened(link);
        try
        {
            while (await link.ReceiveAsync(_cancel.Token, _pool) is { } packet)
            {
                if (packet.PassId != PassId)
                {
                    Log.Debug("Stage {Stage}: dropped a {Kind} packet of pass {Pass} during pass {Current}", _name, packet.Kind, packet.PassId, PassId);
                    continue;
                }
                switch (packet.Kind)
                {
                    case PacketKind.Activations when side == "upstream":
                        Forward(packet.MicroBatch, packet.Tensor("tokens").AsInts(), packet.Tensor("hidden").AsFloats(), packet.Batch, packet.Positions, packet.Find("hidden"));
                        break;
                    case PacketKind.Gradient when side == "downstream":
                        Backward(packet.MicroBatch, packet.Tensor("grad"), packet.Batch, packet.Positions);
                        break;
                    default:
                        throw new DataPlaneException($"a {packet.Kind} packet arrived on the {side} link of stage {_name}");
                }
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is DataPlaneException or InvalidDataException)
        {
            Fail("link", -1, new DataPlaneException($"{side} data link to {link.Peer} failed: {e.Message}", e), side);
        }
    }

    private void Fail(string operation, int microBatch, Exception e, string link = "")
    {
        if (_cancel.IsCancellationRequested) return;
        Log.Error("Stage {Stage}: {Operation} of micro-batch {MicroBatch} failed: {Reason}", _name, operation, microBatch, e.Message);
        _coordinator.Tell(new StageFailure { Operation = operation, Message = e.Message, MicroBatch = microBatch, Link = link, PassId = PassId }, _stage);
    }

    /// <summary>Ends the pass: waits for queued work, tells both neighbours the links are done, returns the stage's busy time.</summary>
    public async Task<PassEnded> EndAsync()
    {
        await _compute.Run(() => { });
        var busy = _worker.BusyTime - _busyBefore;
        await DisposeAsync();
        return new PassEnded { PassId = PassId, BusySeconds = busy.TotalSeconds, PeakBytes = ProcessMemory.PeakResidentBytes() };
    }

    public async ValueTask DisposeAsync()
    {
        if (_downstream is { } d) await d.CloseAsync(CancellationToken.None);
        if (_upstream is { } u) await u.CloseAsync(CancellationToken.None);
        await _cancel.CancelAsync();
        try { await Task.WhenAll(_readers); } catch (Exception) { /* each reader reports its own failure */ }
        if (_downstream is { } dd) await dd.DisposeAsync();
        if (_upstream is { } uu) await uu.DisposeAsync();
        _cancel.Dispose();
    }
}
