using Akka.Configuration;
using NirvanaCluster.Messages.Serialization;

namespace NirvanaCluster.Cluster.Tests;

/// <summary>HOCON for TestKit systems: the protocol's serializer bound as the hosts bind it, and every message serialized even locally.</summary>
public static class AkkaConfigs
{
    public static Config Local(bool serializeEverything = false) => ConfigurationFactory.ParseString($$"""
        akka.actor.serialize-messages = {{(serializeEverything ? "on" : "off")}}
        akka.actor.serializers.{{ProtobufSerializer.Name}} = "{{typeof(ProtobufSerializer).AssemblyQualifiedName}}"
        akka.actor.serialization-identifiers."{{typeof(ProtobufSerializer).AssemblyQualifiedName}}" = {{ProtobufSerializer.Id}}
        akka.actor.serialization-bindings {
        {{string.Join("\n", ProtobufSerializer.MessageTypes.Select(t => $"  \"{t.FullName}, {t.Assembly.GetName().Name}\" = {ProtobufSerializer.Name}"))}}
        }
        akka.loglevel = DEBUG
        """);
}
