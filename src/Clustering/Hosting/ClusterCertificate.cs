using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NirvanaCluster.Clustering.Hosting;

/// <summary>
/// The cluster certificate: every member presents it in Akka.Remote's mutual TLS and accepts only peers that
/// present it too (pinned by thumbprint). Read from a PFX/PKCS#12 file or a PEM file (certificate and private key,
/// in one file, or the key beside it as a Kubernetes TLS secret mounts them: tls.crt + tls.key), named by a flag or
/// by NIRVANA_CLUSTER_CERTIFICATE; `--nodes N` makes a throwaway one that only its own processes know.
/// </summary>
public static class ClusterCertificate
{
    public const string PathVariable = "NIRVANA_CLUSTER_CERTIFICATE";
    public const string PasswordVariable = "NIRVANA_CLUSTER_CERTIFICATE_PASSWORD";

    /// <summary>The certificate named by <paramref name="path"/>, else by the environment; an error names what is missing.</summary>
    public static X509Certificate2 Load(string? path, string flag = "--certificate")
    {
        var source = path ?? Environment.GetEnvironmentVariable(PathVariable);
        if (string.IsNullOrWhiteSpace(source))
            throw new ArgumentException($"no cluster certificate: pass {flag} FILE (PFX, or PEM with its private key) or set {PathVariable}");
        var password = Environment.GetEnvironmentVariable(PasswordVariable);
        var origin = path is null ? $"{PathVariable}='{source}'" : $"{flag} '{source}'";
        if (Directory.Exists(source)) source = Path.Combine(source, "tls.crt");
        if (!File.Exists(source)) throw new ArgumentException($"{origin}: the certificate file does not exist");
        X509Certificate2 certificate;
        try
        {
            var text = File.ReadAllText(source);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                var keyFile = KeyBeside(source);
                var key = text.Contains("PRIVATE KEY-----", StringComparison.Ordinal) ? text
                    : keyFile is not null ? File.ReadAllText(keyFile)
                    : throw new ArgumentException($"{origin}: a PEM certificate needs its private key in the same file or beside it ({string.Join(" or ", KeyNames(source).Distinct())})");
                using var pem = X509Certificate2.CreateFromPem(text, key);
                // Re-import so the key is usable by SslStream on every platform.
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
            }
            else
                certificate = X509CertificateLoader.LoadPkcs12FromFile(source, password, X509KeyStorageFlags.Exportable);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"{origin}: not a readable PFX or PEM certificate with a private key ({e.Message})", e);
        }
        if (!certificate.HasPrivateKey)
            throw new ArgumentException($"{origin}: the certificate has no private key; every member needs it to present the certificate");
        return certificate;
    }

    private static string? KeyBeside(string certificateFile)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(certificateFile))!;
        return KeyNames(certificateFile).Select(n => Path.Combine(dir, n)).FirstOrDefault(File.Exists);
    }

    private static IEnumerable<string> KeyNames(string certificateFile) => ["tls.key", Path.GetFileNameWithoutExtension(certificateFile) + ".key"];

    /// <summary>A fresh self-signed certificate for one job's local processes.</summary>
    public static X509Certificate2 CreateThrowaway()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=nirvana-cluster-local", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(7));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
    }

    /// <summary>Writes the certificate with its key to a file only this user can read; the caller deletes it.</summary>
    public static string WritePrivateFile(X509Certificate2 certificate, string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"cluster-{Guid.NewGuid():N}.pfx");
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            file.Write(certificate.Export(X509ContentType.Pkcs12));
        }
        return path;
    }
}
