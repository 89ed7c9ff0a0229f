using System.Text;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// The shared secret every cluster member proves it knows (HMAC-SHA256 challenge/response) before any message is
/// accepted. Never sent over the wire and never printed.
/// </summary>
public sealed class ClusterSecret
{
    public const string EnvironmentVariable = "NIRVANA_CLUSTER_SECRET";
    public const string FileEnvironmentVariable = "NIRVANA_CLUSTER_SECRET_FILE";
    public const int MinimumLength = 16;

    private readonly byte[] _key;

    private ClusterSecret(byte[] key) => _key = key;

    internal ReadOnlySpan<byte> Key => _key;

    /// <summary>A secret given directly (tests, or a value the host read itself); at least 16 characters.</summary>
    public static ClusterSecret FromString(string secret, string source = "the given secret")
    {
        ArgumentNullException.ThrowIfNull(secret);
        var trimmed = secret.Trim();
        if (trimmed.Length < MinimumLength)
            throw new ArgumentException($"cluster secret from {source} has {trimmed.Length} characters; at least {MinimumLength} are required", nameof(secret));
        return new ClusterSecret(Encoding.UTF8.GetBytes(trimmed));
    }

    /// <summary>
    /// Loads the secret from, in order: <paramref name="filePath"/> when given, the file named by
    /// NIRVANA_CLUSTER_SECRET_FILE, or the value of NIRVANA_CLUSTER_SECRET. Surrounding whitespace (a file's trailing
    /// newline) is ignored. Throws saying which source failed, or that none was set.
    /// </summary>
    public static ClusterSecret Load(string? filePath = null, Func<string, string?>? getEnvironment = null)
    {
        getEnvironment ??= Environment.GetEnvironmentVariable;
        if (!string.IsNullOrEmpty(filePath))
            return FromFile(filePath, "the given path");
        var fromEnvFile = getEnvironment(FileEnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvFile))
            return FromFile(fromEnvFile, FileEnvironmentVariable);
        var value = getEnvironment(EnvironmentVariable);
        if (!string.IsNullOrEmpty(value))
            return FromString(value, EnvironmentVariable);
        throw new InvalidOperationException(
            $"no cluster secret: pass a secret file, or set {FileEnvironmentVariable} to a file holding it, or {EnvironmentVariable} to its value (at least {MinimumLength} characters)");
    }

    private static ClusterSecret FromFile(string path, string source)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot read the cluster secret file '{path}' (from {source}): {e.Message}", e);
        }
        return FromString(text, $"file '{path}'");
    }

    public override string ToString() => "ClusterSecret(redacted)";
}
