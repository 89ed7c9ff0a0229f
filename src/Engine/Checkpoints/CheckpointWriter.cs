using NirvanaCluster.Engine.Model;
using Serilog;

namespace NirvanaCluster.Engine.Checkpoints;

/// <summary>
/// Writes a Hugging Face model folder: config.json, the weights as <c>model.safetensors</c> or, past the shard size,
/// <c>model-00001-of-0000N.safetensors</c> + <c>model.safetensors.index.json</c> (as <c>save_pretrained</c> does),
/// and any extra files. Tensors are produced and written one at a time. The folder appears only when complete.
/// </summary>
public static class CheckpointWriter
{
    private static readonly ILogger Log = Serilog.Log.ForContext(typeof(CheckpointWriter));
    private static readonly Dictionary<string, string> HfMetadata = new() { ["format"] = "pt" }; // transformers checks it

    public static void Write(string outputDir, LlamaConfig config, IEnumerable<NamedTensor> tensors,
        CheckpointWriteOptions? options = null)
    {
        options = (options ?? new CheckpointWriteOptions()).Validated();
        config.Validated("config");
        var all = tensors.ToList();
        var extras = CheckExtraFiles(options.ExtraFiles);
        var shards = PlanShards(all, options);
        AtomicDirectory.Create(outputDir, options.Force, inputs: options.Inputs.Concat(options.ExtraFiles), fill: staging =>
        {
            ConfigJson.Write(Path.Combine(staging, ConfigJson.FileName), config, options.OriginalConfig, options.DType);
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < shards.Count; i++)
            {
                var name = shards.Count == 1 ? Checkpoint.SingleFileName : $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                Log.Debug("Writing {Shard} ({Tensors} tensors) into {Output}", name, shards[i].Count, outputDir);
                SafeTensorsWriter.Write(Path.Combine(staging, name), shards[i], options.DType, HfMetadata);
                foreach (var t in shards[i]) weightMap[t.Name] = name;
            }
            if (shards.Count > 1)
                new ShardIndex(weightMap, SafeTensorsWriter.DataBytes(all, options.DType)).Write(Path.Combine(staging, ShardIndex.FileName));
            foreach (var (source, name) in extras)
                File.Copy(source, Path.Combine(staging, name));
        });
        Log.Information("Wrote checkpoint {Output}: {Tensors} tensors, {Shards} shard(s), {DType}",
            outputDir, all.Count, shards.Count, options.DType.SafeTensorsName());
    }

    /// <summary>
    /// Assembles a checkpoint whose shard files are written by someone else (cluster nodes writing to shared storage):
    /// <paramref name="writeShards"/> gets the staging folder, writes safetensors files into it and returns the
    /// weight map (tensor name to file name). This writes config.json, the index and the extra files around them and
    /// moves the folder into place only when all of it is complete.
    /// </summary>
    public static void Assemble(string outputDir, LlamaConfig config, Func<string, IReadOnlyDictionary<string, string>> writeShards,
        CheckpointWriteOptions? options = null)
    {
        options = (options ?? new CheckpointWriteOptions()).Validated();
        config.Validated("config");
        var extras = CheckExtraFiles(options.ExtraFiles);
        AtomicDirectory.Create(outputDir, options.Force, inputs: options.Inputs.Concat(options.ExtraFiles), fill: staging =>
        {
            ConfigJson.Write(Path.Combine(staging, ConfigJson.FileName), config, options.OriginalConfig, options.DType);
            var weightMap = writeShards(staging);
            var files = weightMap.Values.Distinct().ToArray();
            foreach (var file in files)
                if (!File.Exists(Path.Combine(staging, file)))
                    throw new InvalidDataException($"shard file '{file}' named in the weight map was not written into {staging}");
            long total = 0;
            foreach (var file in files)
            {
                using var shard = SafeTensorsFile.Open(Path.Combine(staging, file)); // also proves each file is complete
                total += shard.Tensors.Values.Sum(t => t.ByteLength);
            }
            new ShardIndex(weightMap, total).Write(Path.Combine(staging, ShardIndex.FileName));
            foreach (var (source, name) in extras)
                File.Copy(source, Path.Combine(staging, name));
        });
        Log.Information("Assembled checkpoint {Output} from shard files written by the nodes", outputDir);
    }

    /// <summary>Greedy, in order, as transformers' <c>shard_checkpoint</c>; an empty model still gets one file.</summary>
    private static List<List<NamedTensor>> PlanShards(List<NamedTensor> tensors, CheckpointWriteOptions options)
    {
        var shards = new List<List<NamedTensor>> { new() };
        var size = 0L;
        foreach (var tensor in tensors)
        {
            var bytes = tensor.ElementCount * options.DType.ElementSize();
            if (shards[^1].Count > 0 && size + bytes > options.MaxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(tensor);
            size += bytes;
        }
        return shards;
    }

    private static List<(string Source, string Name)> CheckExtraFiles(IReadOnlyList<string> files)
    {
        var reserved = new[] { ConfigJson.FileName, Checkpoint.SingleFileName, ShardIndex.FileName, OutputGuard.MarkerFileName };
        var result = new List<(string, string)>();
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            if (!File.Exists(file))
                throw new FileNotFoundException($"extra file '{file}' to copy into the checkpoint does not exist", file);
            if (reserved.Contains(name) || (name.StartsWith("model-", StringComparison.Ordinal) && name.EndsWith(".safetensors", StringComparison.Ordinal)))
                throw new ArgumentException($"extra file '{file}' would overwrite the checkpoint's own '{name}'");
            if (result.Any(r => r.Item2 == name))
                throw new ArgumentException($"two extra files are named '{name}'");
            result.Add((file, name));
        }
        return result;
    }
}
