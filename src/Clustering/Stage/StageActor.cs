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
/// <see cref="Ready"/> ⇄ <see cref="InSession"/> (a pass or a decoding run); heavy work runs on the stage's own compute thread and comes back
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
    private StageSession? _session;
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
    private sealed record PassOver(object Ended, IActorRef ReplyTo);
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
        Receive<BeginDecode>(StartDecode);
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
        Receive<QueryMemory>(_ =>
        {
            var worker = _worker!;
            Reply("memory report", () =>
            {
                var m = worker.Memory;
                return new MemoryReport { Schedule = m.Schedule, PlannedBytes = m.PlannedBytes, PeakResidentBytes = m.PeakResidentBytes, PeakManagedBytes = m.PeakManagedBytes };
            });
        });
        Receive<LoadMasks>(m =>
        {
            var worker = _worker!;
            var variants = m.Variants.Select(v => (IReadOnlyList<Pruning.Plan.LayerPlan>)v.Layers.Select(ProtocolMapping.FromProto).ToArray()).ToArray();
            Reply("loading masks", () =>
            {
                worker.LoadMasks(variants);
                return new MasksLoaded { Variants = variants.Length };
            });
        });
        Receive<EndPass>(m => Sender.Tell(new PassEnded { PassId = m.PassId, PeakBytes = ProcessMemory.PeakResidentBytes() }));
        Receive<EndDecode>(m => Sender.Tell(new DecodeEnded { DecodeId = m.DecodeId }));
        Receive<DecodeStep>(m => _log.Debug("Stage {0}: a decoding step of run {1} arrived after its end; dropped", _name, m.DecodeId));
        Receive<RunMicroBatch>(m => _log.Debug("Stage {0}: micro-batch {1} of pass {2} arrived after its pass; dropped", _name, m.MicroBatch, m.PassId));
        ReceiveAny(Unknown);
    }

    /// <summary>A pass or a decoding run is under way: its links, its steps, its end.</summary>
    private void InSession()
    {
        Receive<OpenLinks>(m =>
        {
            var session = _session!;
            var replyTo = Sender;
            if (m.PassId != session.Id) { replyTo.Tell(Failure("link", $"OpenLinks for pass {m.PassId} during pass {session.Id}")); return; }
            if (_downstreamLink is null) { replyTo.Tell(new LinksOpen { PassId = m.PassId }); return; }
            session.OpenDownstreamAsync(_downstreamLink, _dataPlane).ContinueWith(t => t.IsCompletedSuccessfully
                ? new PassReady(replyTo, new LinksOpen { PassId = m.PassId })
                : (object)new PassError("link", t.Exception?.InnerException?.Message ?? "cancelled", replyTo)).PipeTo(Self);
        });
        Receive<PassReady>(m => m.ReplyTo.Tell(m.Reply));
        Receive<PassError>(m => m.ReplyTo.Tell(Failure(m.Operation, m.Message)));
        Receive<RunMicroBatch>(m =>
        {
            if (_session is StagePass pass && m.PassId == pass.Id) pass.Run(m);
            else _log.Debug("Stage {0}: dropped micro-batch {1} of pass {2} during pass {3}", _name, m.MicroBatch, m.PassId, _session!.Id);
        });
        Receive<DecodeStep>(m =>
        {
            if (_session is StageDecode decode && m.DecodeId == decode.Id) decode.Step(m);
            else _log.Debug("Stage {0}: dropped a decoding step of run {1} during pass {2}", _name, m.DecodeId, _session!.Id);
        });
        Receive<EndPass>(m => End(m.PassId, () => ((StagePass)_session!).EndAsync().ContinueWith(t => (object)t.Result), new PassEnded { PassId = m.PassId }));
        Receive<EndDecode>(m => End(m.DecodeId, () => ((StageDecode)_session!).EndAsync().ContinueWith(t => (object)t.Result), new DecodeEnded { DecodeId = m.DecodeId }));
        // A new pass (the coordinator redoing one after a failure elsewhere) abandons the current one.
        Receive<BeginPass>(m =>
        {
            Abandon();
            StartPass(m);
        });
        Receive<BeginDecode>(m =>
        {
            Abandon();
            StartDecode(m);
        });
        Receive<LoadShard>(m =>
        {
            if (SameShard(m)) Sender.Tell(Loaded(0));
            else Sender.Tell(Failure("load", "a different shard was requested during a pass"));
        });
        ReceiveAny(m => Sender.Tell(Failure(Operation(m), $"stage {_name} is in pass {_session!.Id}; {m.GetType().Name} must wait for its end")));
    }

    /// <summary>Ends the session <paramref name="id"/> (a stale end of another is answered at once: nothing to close).</summary>
    private void End(long id, Func<Task<object>> end, object stale)
    {
        var replyTo = Sender;
        if (id != _session!.Id)
        {
            replyTo.Tell(stale);
            return;
        }
        var ending = end();
        _session = null;
        _downstreamLink = null;
        ending.ContinueWith(t => t.IsCompletedSuccessfully
            ? new PassOver(t.Result, replyTo)
            : (object)new PassError("end of pass", t.Exception?.InnerException?.Message ?? "cancelled", replyTo)).PipeTo(Self);
        BecomeStacked(Ending);
    }

    private void Abandon()
    {
        var old = _session!;
        _session = null;
        _ = old.DisposeAsync().AsTask();
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
            var schedule = m.Schedule.Length == 0 ? StageSchedule.AllLayers : StageSchedules.Parse(m.Schedule);
            return new LoadFinished(m, new ShardWorker(shard, schedule, m.InFlight > 0 ? m.InFlight : 4), clock.Elapsed.TotalSeconds, null, replyTo);
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
            // On the compute thread, queued before any of the new pass's work and after all of an abandoned pass's
            // (which StageSession skips): the worker is reset only once nothing of the old pass can still touch it.
            var worker = _worker!;
            var replyTo = Sender;
            _compute!.Run(worker.BeginPass).ContinueWith(t => replyTo.Tell(Failure("begin pass", t.Exception!.InnerException!)),
                TaskContinuationOptions.OnlyOnFaulted);
            _session = new StagePass(m, worker, _compute, Sender, Self, _name, _dataPlane);
            _downstreamLink = m.Downstream;
            Sender.Tell(new PassBegun { PassId = m.PassId });
            Become(InSession);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            Sender.Tell(Failure("begin pass", e.Message));
        }
    }

    private void StartDecode(BeginDecode m)
    {
        try
        {
            _session = new StageDecode(m, _worker!, _compute!, Sender, Self, _name, _dataPlane);
            _downstreamLink = m.Downstream;
            Sender.Tell(new DecodeBegun { DecodeId = m.DecodeId });
            Become(InSession);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or ArgumentException)
        {
            Sender.Tell(Failure("begin decoding", e.Message));
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
                    var tensors = worker.CompactTensors(plan);
                    SafeTensorsWriter.Write(file.Path, tensors.Select(t => NamedTensor.FromWeight(t.Name, t.Shape, t.Produce)).ToArray(), dtype,
                        new Dictionary<string, string> { ["format"] = "pt" });
                    return Compacted(tensors.Select(t => t.Name), 0);
                });
                break;
            case Compact.TargetOneofCase.StreamBack:
                var target = m.StreamBack;
                Reply("compaction", () =>
                {
                    var link = dataPlane.ConnectAsync(target.Endpoint, target.Token.ToByteArray(), name, CancellationToken.None).GetAwaiter().GetResult();
                    try
                    {
                        // Built one tensor at a time from the held weights and sent at its stored dtype (a BF16 weight as BF16).
                        var tensors = worker.CompactTensors(plan);
                        long bytes = 0;
                        for (var i = 0; i < tensors.Count; i++)
                        {
                            // Midway through the stream, so that a loss here leaves the coordinator with part of it.
                            if (i == tensors.Count / 2) FaultInjection.At("compaction");
                            var t = tensors[i];
                            var weight = t.Produce();
                            bytes += weight.ByteLength;
                            link.SendAsync(new DataPacket(PacketKind.Weights, 0, -1, 0, 0, [WeightTensors.ToData(t.Name, t.Shape, weight)]), CancellationToken.None)
                                .AsTask().GetAwaiter().GetResult();
                        }
                        link.CloseAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                        return Compacted(tensors.Select(t => t.Name), bytes);
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

    private static Compacted Compacted(IEnumerable<string> names, long bytes)
    {
        var c = new Compacted { Bytes = bytes };
        c.Tensors.AddRange(names);
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
        && l.EndLayer == m.EndLayer && l.Embedding == m.Embedding && l.Head == m.Head && l.Schedule == m.Schedule;

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
        LoadMasks => "loading masks",
        BeginPass or OpenLinks or EndPass => "pass",
        BeginDecode or DecodeStep or EndDecode => "decoding",
        RunMicroBatch => "forward",
        _ => m.GetType().Name,
    };

    private IActorRef _lastSender = ActorRefs.Nobody;

    protected override bool AroundReceive(Receive receive, object message)
    {
        if (!Sender.IsNobody() && !Sender.Equals(Self)) _lastSender = Sender;
        return base.AroundReceive(receive, message);
    }

    /// <summary>A bug in a handler restarts the actor empty: whoever was talking to it hears so, rather than waiting forever.</summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _lastSender.Tell(new StageFailure
        {
            Operation = "internal", MicroBatch = -1,
            Message = $"stage {_name} failed handling {message?.GetType().Name ?? "a message"} and was restarted empty: {reason.Message}",
        }, Self);
        base.PreRestart(reason, message);
    }

    protected override void PostStop()
    {
        if (_session is { } p) _ = p.DisposeAsync().AsTask();
        _compute?.Dispose();
        _worker = null;
    }
}
