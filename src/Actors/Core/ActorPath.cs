using System.Text.RegularExpressions;

namespace NirvanaCluster.Actors.Core;

/// <summary>
/// The full name of an actor: its system's address plus a local path such as <c>/user/coordinator/node-3</c>.
/// Written out, <c>nirvana://system@host:port/user/coordinator</c>.
/// </summary>
public sealed partial record ActorPath
{
    public ActorPath(Address address, string localPath)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (string.IsNullOrEmpty(localPath) || !LocalPathPattern().IsMatch(localPath))
            throw new ArgumentException($"local actor path '{localPath}' must look like /segment/segment with names of letters, digits, '-', '_', '.', '$'", nameof(localPath));
        Address = address;
        LocalPath = localPath;
    }

    public Address Address { get; }

    /// <summary>The path inside the system, always starting with '/'.</summary>
    public string LocalPath { get; }

    /// <summary>The last segment.</summary>
    public string Name => LocalPath[(LocalPath.LastIndexOf('/') + 1)..];

    public ActorPath Child(string name)
    {
        ValidateName(name);
        return new ActorPath(Address, $"{LocalPath}/{name}");
    }

    public override string ToString() => Address + LocalPath;

    /// <summary>Parses <c>nirvana://system[@host:port]/local/path</c>.</summary>
    public static ActorPath Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        var slash = schemeEnd < 0 ? -1 : text.IndexOf('/', schemeEnd + 3);
        if (slash < 0)
            throw new FormatException($"actor path '{text}' must look like nirvana://system@host:port/user/name");
        try
        {
            return new ActorPath(Address.Parse(text[..slash]), text[slash..]);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"actor path '{text}': {e.Message}", e);
        }
    }

    public static bool TryParse(string? text, out ActorPath path)
    {
        path = null!;
        if (string.IsNullOrEmpty(text))
            return false;
        try
        {
            path = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    internal static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
            throw new ArgumentException($"actor name '{name}' must be letters, digits, '-', '_', '.' or '$'", nameof(name));
    }

    [GeneratedRegex(@"^[A-Za-z0-9._$-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^(/[A-Za-z0-9._$-]+)+$")]
    private static partial Regex LocalPathPattern();
}
