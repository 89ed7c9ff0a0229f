using System.Threading.Channels;
using Akka.Actor;

namespace NirvanaCluster.Coordinator.Cluster;

/// <summary>
/// An actor whose only job is to be the sender of the coordinator's requests to stages, so that every reply and
/// every unsolicited stage event (a head's result, a failure) lands in one ordered channel that the job reads.
/// </summary>
public sealed class ReplyInbox : IAsyncDisposable
{
    public sealed record Reply(object Message, IActorRef Sender);

    private readonly Channel<Reply> _channel = Channel.CreateUnbounded<Reply>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ActorSystem _system;

    public IActorRef Ref { get; }

    public ReplyInbox(ActorSystem system, string name)
    {
        _system = system;
        Ref = system.ActorOf(Props.Create(() => new Forwarder(_channel.Writer)), $"{name}-{Guid.NewGuid():N}");
    }

    public ValueTask<Reply> ReadAsync(CancellationToken cancellation) => _channel.Reader.ReadAsync(cancellation);

    /// <summary>Puts a local event (a lost node) in line with the replies.</summary>
    public void Post(object message) => _channel.Writer.TryWrite(new Reply(message, ActorRefs.Nobody));

    public ValueTask DisposeAsync()
    {
        _system.Stop(Ref);
        _channel.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(ChannelWriter<Reply> writer) => ReceiveAny(m => writer.TryWrite(new Reply(m, Sender)));
    }
}
