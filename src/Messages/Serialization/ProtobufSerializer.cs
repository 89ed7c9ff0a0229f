using System.Collections.Frozen;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace NirvanaCluster.Messages.Serialization;

/// <summary>
/// The Akka serializer of the control protocol: every message of <c>pruning.proto</c> as its protobuf bytes, with
/// the message's full protobuf name as manifest. A manifest outside the protocol is refused with a clear error
/// (the association logs it and drops the message) rather than guessed at.
/// </summary>
public sealed class ProtobufSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Akka reserves 0..100 for its own serializers.</summary>
    public const int Id = 7701;

    public const string Name = "nirvana-protobuf";

    /// <summary>The protocol's files; a message type is carried by this serializer exactly when it is declared in one.</summary>
    public static IReadOnlyList<FileDescriptor> Files { get; } = [Pruning.PruningReflection.Descriptor];

    /// <summary>The CLR types to bind to this serializer.</summary>
    public static IReadOnlyList<Type> MessageTypes { get; } = Files.SelectMany(f => f.MessageTypes).Select(m => m.ClrType).ToArray();

    private static readonly FrozenDictionary<string, MessageParser> Parsers =
        Files.SelectMany(f => f.MessageTypes).ToFrozenDictionary(m => m.FullName, m => m.Parser, StringComparer.Ordinal);

    public override int Identifier => Id;

    public override string Manifest(object o) => o is IMessage m && Parsers.ContainsKey(m.Descriptor.FullName)
        ? m.Descriptor.FullName
        : throw new SerializationException($"{o.GetType().FullName} is not a message of the NirvanaCluster protocol");

    public override byte[] ToBinary(object obj) => obj is IMessage m
        ? m.ToByteArray()
        : throw new SerializationException($"{obj.GetType().FullName} is not a protobuf message");

    public override object FromBinary(byte[] bytes, string manifest) => Parsers.TryGetValue(manifest, out var parser)
        ? parser.ParseFrom(bytes)
        : throw new SerializationException($"unknown message type '{manifest}': not part of NirvanaCluster protocol version {ProtocolVersion.Current}");
}
