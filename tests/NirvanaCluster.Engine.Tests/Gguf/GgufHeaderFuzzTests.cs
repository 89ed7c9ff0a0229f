using System.Buffers.Binary;
using NirvanaCluster.Engine.Gguf;
using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests.Gguf;

/// <summary>
/// Thousands of randomly damaged GGUF files (seeded) for the project's reader of what it writes: every one must
/// parse or fail with <see cref="InvalidDataException"/> — never another exception, a hang or a huge allocation.
/// </summary>
public class GgufHeaderFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 5000;

    private static byte[] ValidFile()
    {
        var metadata = new GgufMetadata()
            .String("general.architecture", "deci").UInt32("deci.block_count", 2).Float32("deci.rope.freq_base", 10000f)
            .Int32s("deci.attention.head_count", [4, 2]).Strings("tokenizer.ggml.tokens", ["<unk>", "<s>", "▁a"]).Bool("b", true);
        using var stream = new MemoryStream();
        GgufWriter.Write(stream, metadata,
        [
            new GgufTensor("token_embd.weight", [32, 3], GgmlType.Q8_0, () => new float[96]),
            new GgufTensor("blk.0.attn_norm.weight", [32], GgmlType.F32, () => new float[32]),
            new GgufTensor("blk.0.attn_q.weight", [32, 2], GgmlType.F16, () => new float[64]),
        ]);
        return stream.ToArray();
    }

    [Fact]
    public async Task Damaged_files_either_parse_or_fail_with_InvalidDataException()
    {
        var valid = ValidFile();
        Assert.Equal(3, GgufReader.Parse(valid, "valid").Tensors.Count);
        var random = new Random(20261201);
        var unexpected = new List<string>();
        var (parsed, refused) = (0, 0);
        var run = Task.Run(() =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                var (bytes, mutation) = Mutate(random, valid);
                try
                {
                    var r = GgufReader.Parse(bytes, "fuzz.gguf");
                    foreach (var t in r.Tensors) _ = bytes.AsSpan((int)t.Offset, (int)t.ByteLength); // in bounds, as promised
                    parsed++;
                }
                catch (InvalidDataException)
                {
                    refused++;
                }
                catch (Exception e)
                {
                    unexpected.Add($"#{i} {mutation}: {e.GetType().Name}: {e.Message}");
                }
            }
        });
        await run.WaitAsync(TimeSpan.FromMinutes(2));
        output.WriteLine($"{parsed} parsed, {refused} refused, {unexpected.Count} unexpected");
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected.Take(10)));
        Assert.True(parsed > 50 && refused > 2000, $"mutations too tame or too wild: {parsed} parsed, {refused} refused");
    }

    private static (byte[] Bytes, string Mutation) Mutate(Random random, byte[] valid)
    {
        var bytes = (byte[])valid.Clone();
        switch (random.Next(5))
        {
            case 0: // flip a few random bytes anywhere in the header
            {
                var header = valid.Length - 96 - 64 - 128;
                for (var k = random.Next(1, 4); k > 0; k--) bytes[random.Next(header)] ^= (byte)random.Next(1, 256);
                return (bytes, "flip");
            }
            case 1: // truncate
            {
                var length = random.Next(valid.Length);
                return (bytes[..length], $"truncate to {length}");
            }
            case 2: // a huge or odd 64-bit count/length at an 8-byte-aligned spot
            {
                var at = random.Next(8, valid.Length - 300) & ~3;
                ulong[] values = [ulong.MaxValue, 1UL << 40, (ulong)valid.Length, 0, (ulong)random.Next(1, 1000)];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), values[random.Next(values.Length)]);
                return (bytes, $"u64 at {at}");
            }
            case 3: // a random 32-bit type or count
            {
                var at = random.Next(8, valid.Length - 300) & ~3;
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)random.Next(-1, 40));
                return (bytes, $"u32 at {at}");
            }
            default: // the header counts themselves
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(random.Next(2) == 0 ? 8 : 16), (ulong)random.Next(0, 10));
                return (bytes, "counts");
            }
        }
    }
}
