using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
using NirvanaCluster.Messages;
using NirvanaCluster.Messages.Pruning;
using NirvanaCluster.Messages.Serialization;

namespace NirvanaCluster.Cluster.Tests.Protocol;

/// <summary>Every control message is carried by the protocol's own serializer, and comes back equal.</summary>
public sealed class ProtobufSerializerTests() : Akka.TestKit.Xunit2.TestKit(AkkaConfigs.Local())
{
    public static TheoryData<string> MessageNames => [.. ProtobufSerializer.MessageTypes.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void Each_protocol_message_round_trips_through_the_protobuf_serializer(string name)
    {
        var type = ProtobufSerializer.MessageTypes.Single(t => t.Name == name);
        var message = Sample(type);
        var serialization = Sys.Serialization;
        var serializer = serialization.FindSerializerFor(message);
        Assert.IsType<ProtobufSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        Assert.Equal(((IMessage)message).Descriptor.FullName, manifest);
        var back = serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest);
        Assert.Equal(message, back);
    }

    [Fact]
    public void A_manifest_outside_the_protocol_is_refused_naming_it()
    {
        var serializer = (ProtobufSerializer)Sys.Serialization.FindSerializerForType(typeof(LoadShard));
        var e = Assert.Throws<SerializationException>(() => serializer.FromBinary([], "nirvana.pruning.SomethingNew"));
        Assert.Contains("nirvana.pruning.SomethingNew", e.Message);
        Assert.Contains($"version {ProtocolVersion.Current}", e.Message);
        Assert.Throws<SerializationException>(() => serializer.Manifest("not a message"));
    }

    /// <summary>A message with every field set to something other than its default, so a dropped field would show.</summary>
    private static object Sample(Type type)
    {
        var message = (IMessage)Activator.CreateInstance(type)!;
        var seed = 1;
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            seed++;
            if (field.IsRepeated)
            {
                var list = (System.Collections.IList)field.Accessor.GetValue(message);
                if (Scalar(field, seed) is { } v) { list.Add(v); list.Add(Scalar(field, seed + 1)); }
                else if (field.FieldType == Google.Protobuf.Reflection.FieldType.Message) list.Add(Sample(field.MessageType.ClrType));
                continue;
            }
            if (field.RealContainingOneof is { } oneof && oneof.Accessor.GetCaseFieldDescriptor(message) is not null) continue;
            if (field.FieldType == Google.Protobuf.Reflection.FieldType.Message) field.Accessor.SetValue(message, Sample(field.MessageType.ClrType));
            else field.Accessor.SetValue(message, Scalar(field, seed)!);
        }
        return message;
    }

    private static object? Scalar(Google.Protobuf.Reflection.FieldDescriptor field, int seed) => field.FieldType switch
    {
        Google.Protobuf.Reflection.FieldType.String => $"value-{seed}",
        Google.Protobuf.Reflection.FieldType.Bytes => ByteString.CopyFrom((byte)seed, (byte)(seed * 3)),
        Google.Protobuf.Reflection.FieldType.Bool => true,
        Google.Protobuf.Reflection.FieldType.Double => seed + 0.25,
        Google.Protobuf.Reflection.FieldType.Float => seed + 0.5f,
        Google.Protobuf.Reflection.FieldType.UInt64 => (ulong)seed * 13,
        Google.Protobuf.Reflection.FieldType.Int32 => seed * 7,
        Google.Protobuf.Reflection.FieldType.Int64 => seed * 1_000_000_007L,
        Google.Protobuf.Reflection.FieldType.UInt32 => (uint)seed * 11,
        Google.Protobuf.Reflection.FieldType.Enum => field.EnumType.Values[^1].Number,
        Google.Protobuf.Reflection.FieldType.Message => null,
        var other => throw new NotSupportedException($"field {field.FullName} of type {other}: add a sample value for it"),
    };
}
