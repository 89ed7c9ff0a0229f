using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using NirvanaCluster.Messages.Framing;

namespace NirvanaCluster.Messages.Registry;

/// <summary>
/// The protobuf message types that may cross the wire, by full name. A remote message of a type not registered here
/// is refused on both sides: the sender cannot send it, the receiver drops it with a logged reason.
/// </summary>
public sealed class MessageRegistry
{
    private readonly ConcurrentDictionary<string, MessageDescriptor> _byName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Type, MessageDescriptor> _byType = new();

    /// <summary>Registers one message type.</summary>
    public MessageRegistry Register(MessageDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        if (descriptor.Parser is null || descriptor.ClrType is null)
            throw new ArgumentException($"message {descriptor.FullName} has no generated C# type to parse into", nameof(descriptor));
        _byName[descriptor.FullName] = descriptor;
        _byType[descriptor.ClrType] = descriptor;
        return this;
    }

    /// <summary>Registers every top-level message of a .proto file, e.g. <c>ClusterReflection.Descriptor</c>.</summary>
    public MessageRegistry RegisterFile(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        foreach (var message in file.MessageTypes)
            Register(message);
        return this;
    }

    public bool IsRegistered(Type type) => _byType.ContainsKey(type);

    /// <summary>The wire type name of a message, or an exception saying how to register it.</summary>
    public string TypeNameOf(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_byType.ContainsKey(message.GetType()))
            throw new ArgumentException(
                $"message type {message.GetType().FullName} is not in the MessageRegistry; register its .proto file before sending it remotely",
                nameof(message));
        return message.Descriptor.FullName;
    }

    /// <summary>Parses a payload of the named type; unknown names and malformed bytes throw <see cref="WireProtocolException"/>.</summary>
    public IMessage Parse(string typeName, ByteString payload)
    {
        if (!_byName.TryGetValue(typeName, out var descriptor))
            throw new WireProtocolException($"message type '{typeName}' is not registered; refusing it");
        try
        {
            return descriptor.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WireProtocolException($"malformed {typeName} payload of {payload.Length} bytes: {e.Message}", e);
        }
    }
}
