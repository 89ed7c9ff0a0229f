using System.Text.Json;
using NirvanaCluster.Engine.Assets;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tests.Gguf.LlamaCpp;

namespace NirvanaCluster.Coordinator.Tests.LlamaCpp;

/// <summary>
/// The default model (stories15M) dense and pruned at 0.2 and 0.5 with <c>nirvana prune --gguf f32</c>, plus
/// held-out stories sampled from the dense model (<c>nirvana sample --seed 1234</c>), built once for the class.
/// </summary>
public sealed class DefaultModelGgufFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("nirvana-gguf-").FullName;
    public string Dense { get; } = DefaultModel.Ensure();
    public string HeldOut => Path.Combine(Root, "held-out.json");
    public int[][] Sequences { get; }

    public DefaultModelGgufFixture()
    {
        var sample = CliRunner.Run("sample", "--samples", "3", "--seq-len", "48", "--seed", "1234", "--output", HeldOut);
        if (sample.ExitCode != 0) throw new InvalidOperationException(sample.Stderr);
        Sequences = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(HeldOut))!;
        if (LlamaCppRuntime.SkipReason is not null) return;
        foreach (var sparsity in new[] { "0.2", "0.5" })
        {
            var r = CliRunner.Run("prune", "--sparsity", sparsity, "--samples", "8", "--seq-len", "64", "--gguf", "f32",
                "--output", Pruned(sparsity));
            if (r.ExitCode != 0) throw new InvalidOperationException(r.Stderr);
        }
    }

    private readonly Dictionary<string, double[][]> llamaCppRuns = new(StringComparer.Ordinal);

    /// <summary>llama.cpp's log-probabilities of the held-out stories under a GGUF file, computed once per file.</summary>
    public double[][] LlamaCppLogProbs(string gguf)
    {
        lock (llamaCppRuns)
        {
            if (!llamaCppRuns.TryGetValue(gguf, out var result))
                llamaCppRuns[gguf] = result = LlamaCppRuntime.LogProbs(LlamaCppRuntime.Run(new { model = gguf, sequences = Sequences }));
            return result;
        }
    }

    public string Pruned(string sparsity) => Path.Combine(Root, "p" + sparsity.Replace("0.", ""));

    /// <summary>A copy of <paramref name="model"/> with every weight stored as <paramref name="dtype"/>: the values a 16-bit GGUF holds.</summary>
    public string Rounded(string model, DType dtype)
    {
        var target = Path.Combine(Root, $"{Path.GetFileName(model)}-{dtype}");
        if (Directory.Exists(target)) return target;
        using var checkpoint = Checkpoint.Open(model);
        var tensors = checkpoint.TensorNames.Select(n => new NamedTensor(n, checkpoint.Info(n).Shape, checkpoint.ReadFloat32(n))).ToList();
        CheckpointWriter.Write(target, checkpoint.Config, tensors, new CheckpointWriteOptions
        {
            DType = dtype, OriginalConfig = checkpoint.RawConfig, ExtraFiles = [Path.Combine(model, DefaultModel.TokenizerFileName)],
        });
        return target;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
