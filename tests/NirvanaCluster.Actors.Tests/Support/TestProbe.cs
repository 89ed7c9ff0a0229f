using System.Threading.Channels;
using NirvanaCluster.Actors.Core;

namespace NirvanaCluster.Actors.Tests.Support;

/// <summary>An actor that queues everything it receives so a test can await it, with a timeout, never a sleep.</summary>
public sealed class TestProbe
{
    private readonly Channel<(object Message, ActorRef Sender)> _received = Channel.CreateUnbounded<(object, ActorRef)>();

    public TestProbe(ActorSystem system, string? name = null)
    {
        Ref = system.ActorOf(Props.Create(() => new ProbeActor(_received.Writer)), name);
    }

    public ActorRef Ref { get; }

    public ActorRef LastSender { get; private set; } = null!;

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public async Task<T> ExpectAsync<T>(TimeSpan? timeout = null)
    {
        var message = await NextAsync(timeout);
        return message is T typed ? typed : throw new Xunit.Sdk.XunitException($"expected {typeof(T).Name}, received {message.GetType().Name}: {message}");
    }

    public async Task<object> NextAsync(TimeSpan? timeout = null)
    {
        try
        {
            var (message, sender) = await _received.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? DefaultTimeout);
            LastSender = sender;
            return message;
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"probe {Ref} received nothing within {(timeout ?? DefaultTimeout).TotalSeconds} s");
        }
    }

    /// <summary>Skips messages until one of type <typeparamref name="T"/> matching <paramref name="match"/> arrives.</summary>
    public async Task<T> FishAsync<T>(Func<T, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new Xunit.Sdk.XunitException($"probe {Ref} received no matching {typeof(T).Name} in time");
            if (await NextAsync(left) is T typed && (match is null || match(typed)))
                return typed;
        }
    }

    public bool TryTake(out object message)
    {
        var ok = _received.Reader.TryRead(out var item);
        message = item.Message;
        return ok;
    }

    private sealed class ProbeActor : Actor
    {
        public ProbeActor(ChannelWriter<(object, ActorRef)> sink)
        {
            ReceiveAny(m => sink.TryWrite((m, Sender)));
        }
    }
}
