using Akka.Actor;
using Akka.Event;
using NirvanaCluster.Clustering.DataPlane;
using NirvanaCluster.Clustering.Protocol;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Messages.DataPlane;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Pruning.Pipeline;

namespace NirvanaCluster.Clustering.Stage;

/// <summary>
/// One pipeline stage: a contiguous layer range of the model, as a Cluster Sharding entity on a node (or a plain
/// child actor in the in-process placement). Its states are <see cref="Empty"/> → <see cref="Loading"/> →
/// <see cref="Ready"/> ⇄ <see cref="InPass"/>; heavy work runs on the stage's own compute thread and comes back
/// as a message, so the actor always answers. Everything a stage holds is re-created from LoadShard and the
/// requests after it, which is what lets a lost stage be rebuilt on another node.
/// </summary>
public sealed class StageActor : ReceiveActor, IWithUnboundedStash
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IDataPlane _dataPlane;
    private readonly string _node;
    private StageCompute? _compute;
    private ShardWorker? _worker;
    private LoadShard? _loaded;
    private StagePass? _pass;
    private string _name;

    public IStash Stash { get; set; } = null!;

    public StageActor(IDataPlane dataPlane, string node)
    {
        _dataPlane = dataPlane;
        _node = node;
        _name = Self.Path.Name;
        Become(Empty);
    }

    public static Props Props(IDataPlane dataPlane, string node) => Akka.Actor.Props.Create(() => new StageActor(dataPlane, node));

    // --- Local messages: results of the compute thread, piped back to the actor. -----------------------------------

    private sealed record LoadFinished(LoadShard Request, ShardWorker? Worker, double Seconds, Exception? Error, IActorRef ReplyTo);
    private sealed record PassReady(IActorRef ReplyTo, object Reply);
    private sealed record PassOver(PassEnded Ended, IActorRef ReplyTo);
    private sealed record PassError(string Operation, string Message, IActorRef ReplyTo);

    // --- States ------------------------------------------------------------------------------------------------------

    private void Empty()
    {
        Receive<LoadShard>(StartLoading);
        ReceiveAny(Refuse("this stage holds no layers yet; send LoadShard first"));
    }

    private void Loading()
    {
        Receive<LoadFinished>(OnLoadFinished);
        ReceiveAny(_ => Stash.Stash());
    }

    private void Ready()
    {
        Receive<LoadShard>(m =>
        {
            if (SameShard(m)) Sender.Tell(Loaded(0));
            else StartLoading(m);
        });
        Receive<BeginPass>(StartPass);
        Receive<ComputeScores>(m =>
        {
            var worker = _worker!;
            var method = ProtocolMapping.FromProto(m.Method);
            Reply("scoring", () =>
            {
                FaultInjection.At("scoring");
                return ProtocolMapping.ToProto(worker.Scores(method, m.Seed));
            });
        });
        Receive<Compact>(OnCompact);
        Receive<EndPass>(m => Sender.Tell(new PassEnded { PassId = m.PassId, PeakBytes = ProcessMemory.PeakResidentBytes() }));
        Receive<RunMicroBatch>(m => _log.Debug("Stage {0}: micro-batch {1} of pass {2} arrived after its pass; dropped", _name, m.MicroBatch, m.PassId));
        ReceiveAny(Unknown);
    }

    private void InPass()
    {
        Receive<OpenLinks>(m =>
        {
            var pass = _pass!;
            var replyTo = Sender;
            if (m.PassId != pass.PassId) { replyTo.Tell(Failure("link", $"OpenLinks for pass {m.PassId} during pass {pass.PassId}")); return; }
            if (_downstreamLink is null) { replyTo.Tell(new LinksOpen { PassId = m.PassId }); return; }
            pass.OpenDownstreamAsync(_downstreamLink, _dataPlane).ContinueWith(t => t.IsCompletedSuccessfully
                ? new PassReady(replyTo, new LinksOpen { PassId = m.PassId })
                : (object)new PassError("link", t.Exception?.InnerException?.Message ?? "cancelled", replyTo)).PipeTo(Self);
        });
        Receive<PassReady>(m => m.ReplyTo.Tell(m.Reply));
        Receive<PassError>(m => m.ReplyTo.Tell(Failure(m.Operation, m.Message)));
        Receive<RunMicroBatch>(m =>
        {
            if (m.PassId == _pass!.PassId) _pass.Run(m);
            else _log.Debug("Stage {0}: dropped micro-batch {1} of pass {2} during pass {3}", _name, m.MicroBatch, m.PassId, _pass.PassId);
        });
        Receive<EndPass>(m =>
        {
            var pass = _pass!;
            var replyTo = Sender;
            if (m.PassId != pass.PassId) { replyTo.Tell(new PassEnded { PassId = m.PassId }); return; }
            _pass = null;
            _downstreamLink = null;
            pass.EndAsync().ContinueWith(t => t.IsCompletedSuccessfully
                ? new PassOver(t.Result, replyTo)
                : (object)new PassError("end of pass", t.Exception?.InnerException?.Message ?? "cancelled", replyTo)).PipeTo(Self);
            BecomeStacked(Ending);
        });
        // A new pass (the coordinator redoing one after a failure elsewhere) abandons the current one.
        Receive<BeginPass>(m =>
        {
            var old = _pass!;
            _pass = null;
            _ = old.DisposeAsync().AsTask();
            StartPass(m);
        });
        Receive<LoadShard>(m =>
        {
            if (SameShard(m)) Sender.Tell(Loaded(0));
            else Sender.Tell(Failure("load", "a different shard was requested during a pass"));
        });
        ReceiveAny(m => Sender.Tell(Failure(Operation(m), $"stage {_name} is in pass {_pass!.PassId}; {m.GetType().Name} must wait for EndPass")));
    }

    /// <summary>Between EndPass and the links being closed: nothing new starts until the pass is fully over.</summary>
    private void Ending()
    {
        Receive<PassOver>(m =>
        {
            m.ReplyTo.Tell(m.Ended);
            UnbecomeStacked();
            Become(Ready);
            Stash.UnstashAll();
        });
        Receive<PassError>(m =>
        {
            m.ReplyTo.Tell(Failure(m.Operation, m.Message));
            UnbecomeStacked();
            Become(Ready);
            Stash.UnstashAll();
        });
        ReceiveAny(_ => Stash.Stash());
    }

    // --- Handlers ----------------------------------------------------------------------------------------------------

    private Link? _downstreamLink;

    private void StartLoading(LoadShard m)
    {
        var replyTo = Sender;
        _name = $"{m.StageName} [{m.FirstLayer}, {m.EndLayer})";
        _worker = null; // release the old shard before reading the new one
        _compute ??= new StageCompute(_name);
        _compute.Run(() =>
        {
            FaultInjection.At("load");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var checkpoint = Checkpoint.Open(m.ModelPath);
            var shard = ShardLoader.Load(checkpoint, m.FirstLayer, m.EndLayer, m.Embedding, m.Head);
            return new LoadFinished(m, new ShardWorker(shard), clock.Elapsed.TotalSeconds, null, replyTo);
        }).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : new LoadFinished(m, null, 0, t.Exception?.InnerException ?? new OperationCanceledException(), replyTo))
          .PipeTo(Self);
        Become(Loading);
    }

    private void OnLoadFinished(LoadFinished m)
    {
        if (m.Worker is null)
        {
            _log.Error("Stage {0}: loading failed: {1}", _name, m.Error!.Message);
            m.ReplyTo.Tell(Failure("load", m.Error));
            _loaded = null;
            Become(Empty);
        }
        else
        {
            _worker = m.Worker;
            _loaded = m.Request;
            _log.Info("Loaded stage {0} from {1}: {2:N0} parameters in {3:F1} s", _name, m.Request.ModelPath, m.Worker.Shard.ParameterCount, m.Seconds);
            m.ReplyTo.Tell(Loaded(m.Seconds));
            Become(Ready);
        }
        Stash.UnstashAll();
    }

    private void StartPass(BeginPass m)
    {
        try
        {
            _worker!.BeginPass();
            _pass = new StagePass(m, _worker, _compute!, Sender, Self, _name, _dataPlane);
            _downstreamLink = m.Downstream;
            Sender.Tell(new PassBegun { PassId = m.PassId });
            Become(InPass);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            Sender.Tell(Failure("begin pass", e.Message));
        }
    }

    private void OnCompact(Compact m)
    {
        var worker = _worker!;
        var plan = m.Layers.Select(ProtocolMapping.FromProto).ToArray();
        var replyTo = Sender;
        var name = _name;
        var dataPlane = _dataPlane;
        switch (m.TargetCase)
        {
            case Compact.TargetOneofCase.WriteFile:
                var file = m.WriteFile;
                var dtype = ProtocolMapping.FromProto(file.Dtype);
                Reply("compaction", () =>
                {
                    FaultInjection.At("compaction");
                    var tensors = ShardTensors.Of(worker.Shard, worker.Compact(plan));
                    SafeTensorsWriter.Write(file.Path, tensors.Select(t => new NamedTensor(t.Name, t.Shape, t.Data)).ToArray(), dtype,
                        new Dictionary<string, string> { ["format"] = "pt" });
                    return Compacted(tensors);
                });
                break;
            case Compact.TargetOneofCase.StreamBack:
                var target = m.StreamBack;
                Reply("compaction", () =>
                {
                    var link = dataPlane.ConnectAsync(target.Endpoint, target.Token.ToByteArray(), name, CancellationToken.None).GetAwaiter().GetResult();
                    try
                    {
                        var tensors = ShardTensors.Of(worker.Shard, worker.Compact(plan));
                        for (var i = 0; i < tensors.Count; i++)
                        {
                            // Midway through the stream, so that a loss here leaves the coordinator with part of it.
                            if (i == tensors.Count / 2) FaultInjection.At("compaction");
                            var t = tensors[i];
                            link.SendAsync(new DataPacket(PacketKind.Weights, 0, -1, 0, 0, [DataTensor.Floats(t.Name, t.Data, t.Shape)]), CancellationToken.None)
                                .AsTask().GetAwaiter().GetResult();
                        }
                        link.CloseAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        return Compacted(tensors);
                    }
                    finally
                    {
                        link.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    }
                });
                break;
            default:
                replyTo.Tell(Failure("compaction", "Compact names no target"));
                break;
        }
    }

    private static Compacted Compacted(IReadOnlyList<ShardTensor> tensors)
    {
        var c = new Compacted { Bytes = tensors.Sum(t => 4L * t.Data.Length) };
        c.Tensors.AddRange(tensors.Select(t => t.Name));
        return c;
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread and sends its result, or a failure, to the sender.</summary>
    private void Reply(string operation, Func<object> work)
    {
        var replyTo = Sender;
        var name = _name;
        var log = _log;
        _compute!.Run(work).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) return t.Result;
            var error = t.Exception?.InnerException ?? new OperationCanceledException();
            log.Error("Stage {0}: {1} failed: {2}", name, operation, error.Message);
            return Failure(operation, error);
        }).PipeTo(replyTo, Self);
    }

    private ShardLoaded Loaded(double seconds) => new()
    {
        Parameters = _worker!.Shard.ParameterCount, Seconds = seconds, Node = _node, DataEndpoint = _dataPlane.Endpoint,
    };

    private bool SameShard(LoadShard m) => _loaded is { } l && l.ModelPath == m.ModelPath && l.FirstLayer == m.FirstLayer
        && l.EndLayer == m.EndLayer && l.Embedding == m.Embedding && l.Head == m.Head;

    private static StageFailure Failure(string operation, string message) => new() { Operation = operation, Message = message, MicroBatch = -1 };

    /// <summary>A failure from an exception: bad input (a corrupt checkpoint, wrong sizes) is told apart from a failed run.</summary>
    private static StageFailure Failure(string operation, Exception e) => new()
    {
        Operation = operation, Message = e.Message, MicroBatch = -1, InputError = e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException,
    };

    private Action<object> Refuse(string reason) => m => Sender.Tell(Failure(Operation(m), $"stage {_name}: {reason}"));

    private void Unknown(object m) => _log.Warning("Stage {0}: dropped unexpected {1}", _name, m.GetType().Name);

    private static string Operation(object m) => m switch
    {
        ComputeScores => "scoring",
        Compact => "compaction",
        BeginPass or OpenLinks or EndPass => "pass",
        RunMicroBatch => "forward",
        _ => m.GetType().Name,
    };

    protected override void PostStop()
    {
        if (_pass is { } p) _ = p.DisposeAsync().AsTask();
        _compute?.Dispose();
        _worker = null;
    }
}
