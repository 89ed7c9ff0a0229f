using System.Security.Cryptography;
using NirvanaCluster.Engine.Checkpoints;

namespace NirvanaCluster.Pruning.Sweep;

/// <summary>
/// Which model a set of unit scores belongs to, cheap to compute for any size: the SHA-256 of config.json's bytes
/// and a SHA-256 over each weight file's name, length, first and last MiB (so a fine-tune with the same config, or
/// the same model stored in another dtype, reads as another model). Neither reads whole weight files.
/// </summary>
public sealed record ModelIdentity(string ConfigSha256, string WeightsSha256)
{
    private const int SampleBytes = 1 << 20;

    public static ModelIdentity Of(string modelDir)
    {
        var config = Path.Combine(modelDir, ConfigJson.FileName);
        var configSha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(config)));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // model.safetensors, or the shards model-0000i-of-0000N.safetensors (never scores.safetensors beside them).
        var files = Directory.GetFiles(modelDir, "model*.safetensors").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        foreach (var name in files)
        {
            using var handle = File.OpenHandle(Path.Combine(modelDir, name), FileMode.Open, FileAccess.Read, FileShare.Read);
            var length = RandomAccess.GetLength(handle);
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}\n{length}\n"));
            var buffer = new byte[(int)Math.Min(SampleBytes, length)];
            hash.AppendData(buffer, 0, RandomAccess.Read(handle, buffer, 0));
            hash.AppendData(buffer, 0, RandomAccess.Read(handle, buffer, Math.Max(0, length - buffer.Length)));
        }
        return new ModelIdentity(configSha, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
