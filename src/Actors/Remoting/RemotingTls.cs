using System.Security.Cryptography.X509Certificates;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// Optional TLS for remoting, on top of (not instead of) the shared-secret handshake. Every member presents
/// <see cref="Certificate"/> when accepting connections and, when dialing, accepts only a server whose certificate
/// thumbprint is in <see cref="TrustedThumbprints"/> (by default the same certificate: one cluster certificate
/// mounted on every pod). Chain and host name are not checked; the pin is the trust.
/// </summary>
public sealed record RemotingTls
{
    public RemotingTls(X509Certificate2 certificate, IReadOnlyCollection<string>? trustedThumbprints = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
            throw new ArgumentException($"TLS certificate {certificate.Subject} ({certificate.Thumbprint}) has no private key; a server needs one", nameof(certificate));
        Certificate = certificate;
        TrustedThumbprints = (trustedThumbprints ?? [certificate.Thumbprint]).Select(t => t.Replace(":", "").ToUpperInvariant()).ToHashSet();
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>SHA-1 thumbprints (hex, any case, colons allowed) of server certificates this member accepts.</summary>
    public IReadOnlySet<string> TrustedThumbprints { get; }

    /// <summary>Loads a PKCS#12 (.pfx) file with its private key; errors name the file.</summary>
    public static RemotingTls FromPkcs12File(string path, string? password = null, IReadOnlyCollection<string>? trustedThumbprints = null)
    {
        try
        {
            return new RemotingTls(X509CertificateLoader.LoadPkcs12FromFile(path, password), trustedThumbprints);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"cannot load the TLS certificate '{path}': {e.Message}", e);
        }
    }

    internal bool IsTrusted(X509Certificate? certificate) =>
        certificate is not null && TrustedThumbprints.Contains(certificate.GetCertHashString().ToUpperInvariant());
}
