using System.Text.Json;
using System.Text.Json.Serialization;

namespace NirvanaCluster.Coordinator.Cli;

/// <summary>The --json contract: the last line of stdout is one JSON object.</summary>
public static class JsonOutput
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void WriteLine(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Options));
}
