using System.Globalization;

namespace NirvanaCluster.Clustering.Hosting;

/// <summary>HOST:PORT, validated with the flag's name in errors.</summary>
public sealed record Endpoint(string Host, int Port)
{
    public static Endpoint Parse(string text, string flag)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
            throw new ArgumentException($"{flag}: '{text}' is not HOST:PORT");
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new ArgumentException($"{flag}: '{portText}' in '{text}' is not a port number (0-65535)");
        return new Endpoint(text[..colon].Trim('[', ']'), port);
    }

    public override string ToString() => $"{Host}:{Port}";
}
