using Akka.Actor;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;
using Serilog;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// What a pass and a decoding run share: the stage's two data links (the upstream one armed with its token, the
/// downstream one opened once the next stage is ready), a reader per link that hands each packet to the compute
/// thread, sending from the compute thread (a full socket holds it back: backpressure), and failures reported to
/// the coordinator as a <see cref="StageFailure"/> naming the operation and the pass.
/// </summary>
internal abstract class StageSession : IAsyncDisposable
{
    private static readonly ILogger Log = Serilog.Log.ForContext<StageSession>();

    private readonly CancellationTokenSource _cancel = new();
    // Set the moment the session is disposed (abandoned for a new pass, or over): work it queued and that has not
    // started yet is skipped, so a node that paused and resumes cannot add an old pass's step to the next one.
    private volatile bool _abandoned;
    private readonly List<Task> _readers = [];
    private IDataLink? _upstream;
    private IDataLink? _downstream;

    protected ShardWorker Worker { get; }
    protected StageCompute Compute { get; }
    protected IActorRef Coordinator { get; }
    protected IActorRef Stage { get; }
    protected string Name { get; }
    protected TensorPool Pool { get; } = new();
    protected bool IsFirst => Worker.Shard.HasEmbedding;
    protected bool IsHead => Worker.Shard.HasHead;

    public long Id { get; }

    protected StageSession(long id, Link? upstream, Link? downstream, ShardWorker worker, StageCompute compute, IActorRef coordinator, IActorRef stage,
        string name, IDataPlane dataPlane)
    {
        Id = id;
        Worker = worker;
        Compute = compute;
        Coordinator = coordinator;
        Stage = stage;
        Name = name;
        if (upstream is not null)
        {
            var accepted = dataPlane.Expect(upstream.Token.ToByteArray(), $"activations into {name}", _cancel.Token);
            _readers.Add(ReadAsync(accepted, link => _upstream = link, "upstream"));
        }
        else if (!IsFirst) throw new InvalidDataException($"stage {name} does not hold the embedding, so it needs an upstream link");
        if (downstream is null && !IsHead) throw new InvalidDataException($"stage {name} does not hold the head, so it needs a downstream link");
    }

    /// <summary>Opens the downstream link (the next stage has armed its side by now) and starts reading from it.</summary>
    public async Task OpenDownstreamAsync(Link downstream, IDataPlane dataPlane)
    {
        var link = await dataPlane.ConnectAsync(downstream.Endpoint, downstream.Token.ToByteArray(), Name, _cancel.Token);
        _downstream = link;
        _readers.Add(ReadAsync(Task.FromResult(link), _ => { }, "downstream"));
    }

    /// <summary>A packet from a neighbour, on the reader's thread: queue the work it triggers.</summary>
    protected abstract void OnPacket(DataPacket packet, bool fromUpstream);

    protected void SendDownstream(DataPacket packet) => Send(_downstream, packet, "downstream");

    protected void SendUpstream(DataPacket packet) => Send(_upstream, packet, "upstream");

    private void Send(IDataLink? link, DataPacket packet, string side)
    {
        if (link is null) throw new InvalidOperationException($"stage {Name} has no {side} link open");
        link.SendAsync(packet, _cancel.Token).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread; a failure is reported as <paramref name="operation"/>.</summary>
    protected void Queue(string operation, int step, Action work) =>
        Compute.Run(() => { if (!_abandoned) work(); })
            .ContinueWith(t => Fail(operation, step, t.Exception!.InnerException!), TaskContinuationOptions.OnlyOnFaulted);

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
            while (await link.ReceiveAsync(_cancel.Token, Pool) is { } packet)
            {
                if (packet.PassId != Id)
                {
                    Log.Debug("Stage {Stage}: dropped a {Kind} packet of pass {Pass} during pass {Current}", Name, packet.Kind, packet.PassId, Id);
                    continue;
                }
                OnPacket(packet, side == "upstream");
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

    protected void Fail(string operation, int step, Exception e, string link = "")
    {
        if (_abandoned || _cancel.IsCancellationRequested) return;
        Log.Error("Stage {Stage}: {Operation} of step {Step} failed: {Reason}", Name, operation, step, e.Message);
        Coordinator.Tell(new StageFailure
        {
            Operation = operation, Message = e.Message, MicroBatch = step, Link = link, PassId = Id,
            InputError = e is InvalidDataException,
        }, Stage);
    }

    /// <summary>Waits for queued work, then tells both neighbours the links are done.</summary>
    protected async Task DrainAsync()
    {
        await Compute.Run(() => { });
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _abandoned = true;
        if (_downstream is { } d) await d.CloseAsync(CancellationToken.None);
        if (_upstream is { } u) await u.CloseAsync(CancellationToken.None);
        if (_cancel.IsCancellationRequested) return;
        await _cancel.CancelAsync();
        try { await Task.WhenAll(_readers); } catch (Exception) { /* each reader reports its own failure */ }
        if (_downstream is { } dd) await dd.DisposeAsync();
        if (_upstream is { } uu) await uu.DisposeAsync();
        _cancel.Dispose();
    }
}
