using System.Globalization;
using System.Text.RegularExpressions;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// Where an actor system lives: <c>nirvana://system</c> for a local-only system, <c>nirvana://system@host:port</c>
/// once it listens for remote connections.
/// </summary>
public sealed partial record Address
{
    public const string Scheme = "nirvana";

    public Address(string system, string? host = null, int? port = null)
    {
        if (string.IsNullOrEmpty(system) || !SystemNamePattern().IsMatch(system))
            throw new ArgumentException($"actor system name '{system}' must be letters, digits, '-', '_' or '.'", nameof(system));
        if (host is not null && (host.Length == 0 || host.AsSpan().ContainsAny("/@ ")))
            throw new ArgumentException($"host '{host}' must be a non-empty host name or IP address", nameof(host));
        if ((host is null) != (port is null))
            throw new ArgumentException($"address of system '{system}' needs both host and port or neither", nameof(port));
        if (port is < 1 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(port), port, "port must be within 1..65535");
        System = system;
        Host = host;
        Port = port;
    }

    public string System { get; }

    public string? Host { get; }

    public int? Port { get; }

    /// <summary>True when this address can be reached over the network.</summary>
    public bool IsRemotable => Host is not null;

    public override string ToString() => Host is null
        ? $"{Scheme}://{System}"
        : $"{Scheme}://{System}@{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port!.Value.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses <c>nirvana://system[@host:port]</c>; the error says what was expected.</summary>
    public static Address Parse(string text)
    {
        if (!TryParse(text, out var address, out var error))
            throw new FormatException(error);
        return address;
    }

    public static bool TryParse(string? text, out Address address) => TryParse(text, out address, out _);

    private static bool TryParse(string? text, out Address address, out string error)
    {
        address = null!;
        var prefix = Scheme + "://";
        if (text is null || !text.StartsWith(prefix, StringComparison.Ordinal))
        {
            error = $"address '{text}' must start with '{prefix}'";
            return false;
        }
        var rest = text[prefix.Length..];
        var at = rest.IndexOf('@');
        if (at < 0)
            return TryCreate(rest, null, null, text, out address, out error);
        var hostPort = rest[(at + 1)..];
        var colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            error = $"address '{text}' must end with '@host:port'";
            return false;
        }
        var host = hostPort[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
            host = host[1..^1];
        return TryCreate(rest[..at], host, port, text, out address, out error);
    }

    private static bool TryCreate(string system, string? host, int? port, string text, out Address address, out string error)
    {
        try
        {
            address = new Address(system, host, port);
            error = "";
            return true;
        }
        catch (ArgumentException e)
        {
            address = null!;
            error = $"address '{text}': {e.Message}";
            return false;
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex SystemNamePattern();
}
