using System.Buffers.Binary;
using System.Text;
using NirvanaCluster.Engine.Checkpoints;
using Xunit.Abstractions;

namespace NirvanaCluster.Engine.Tests.Checkpoints;

/// <summary>
/// Thousands of randomly damaged files (seeded): every one must open and read cleanly or fail with
/// <see cref="InvalidDataException"/> — never another exception, a hang or a crash.
/// </summary>
public class SafeTensorsFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 5000;

    private static readonly string Header = (
        "{'__metadata__':{'format':'pt','note':'fuzz'},'w':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]}," +
        "'b':{'dtype':'BF16','shape':[4],'data_offsets':[24,32]},'h':{'dtype':'F16','shape':[3],'data_offsets':[32,38]}," +
        "'i':{'dtype':'I64','shape':[1],'data_offsets':[38,46]},'z':{'dtype':'F32','shape':[0],'data_offsets':[46,46]}}")
        .Replace('\'', '"');

    [Fact]
    public async Task Damaged_files_either_read_or_fail_with_InvalidDataException()
    {
        using var temp = new TempDirectory();
        var path = temp.File("fuzz.safetensors");
        var data = Enumerable.Range(0, 46).Select(i => (byte)(i * 37 + 11)).ToArray();
        var random = new Random(20240917);
        var unexpected = new List<string>();
        var (succeeded, refused) = (0, 0);

        var run = Task.Run(() =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                var (bytes, mutation) = Mutate(random, Header, data);
                File.WriteAllBytes(path, bytes);
                try
                {
                    using var file = SafeTensorsFile.Open(path);
                    foreach (var name in file.Tensors.Keys)
                        if (file.Tensors[name].DType.IsReadableAsFloat32()) file.ReadAsFloat32(name);
                    succeeded++;
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
        await run.WaitAsync(TimeSpan.FromMinutes(2)); // a hang fails here with a TimeoutException
        output.WriteLine($"{succeeded} read, {refused} refused, {unexpected.Count} unexpected");
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected.Take(10)));
        Assert.True(succeeded > 50 && refused > 2000, $"mutations too tame or too wild: {succeeded} read, {refused} refused");
        Assert.Equal(["fuzz.safetensors"], temp.Entries());
    }

    private static (byte[] Bytes, string Mutation) Mutate(Random random, string header, byte[] data)
    {
        var file = SafeTensorsBytes.Build(header, data);
        switch (random.Next(7))
        {
            case 0:
            {
                var flips = random.Next(1, 5);
                var headerOnly = random.Next(2) == 0;
                for (var k = 0; k < flips; k++)
                {
                    var at = random.Next(headerOnly ? 8 + header.Length : file.Length);
                    file[at] ^= (byte)(1 << random.Next(8));
                }
                return (file, $"{flips} bit flips{(headerOnly ? " in the header" : "")}");
            }
            case 1:
            {
                var length = random.Next(file.Length);
                return (file[..length], $"truncated to {length} bytes");
            }
            case 2:
            {
                var value = random.Next(3) switch
                {
                    0 => (ulong)random.Next(0, file.Length + 16),
                    1 => (ulong)(header.Length + random.Next(-8, 9)),
                    _ => (ulong)random.NextInt64() * 2,
                };
                BinaryPrimitives.WriteUInt64LittleEndian(file, value);
                return (file, $"header length set to {value}");
            }
            case 3:
            {
                var mutated = MutateText(random, header, out var what);
                return (SafeTensorsBytes.Build(mutated, data), what);
            }
            case 4:
            {
                var mutated = MutateNumber(random, header, out var what);
                return (SafeTensorsBytes.Build(mutated, data), what);
            }
            case 5:
            {
                var extra = new byte[random.Next(1, 16)];
                random.NextBytes(extra);
                return ([.. file, .. extra], $"{extra.Length} bytes appended");
            }
            default:
            {
                // several text mutations at once, and sometimes a shortened data section
                var mutated = header;
                var what = new StringBuilder();
                for (var k = random.Next(2, 5); k > 0; k--)
                {
                    mutated = MutateText(random, mutated, out var w);
                    what.Append(w).Append("; ");
                }
                var cut = random.Next(3) == 0 ? random.Next(data.Length) : data.Length;
                return (SafeTensorsBytes.Build(mutated, data[..cut]), $"{what}data cut to {cut}");
            }
        }
    }

    private const string Alphabet = "{}[]\",:0123456789-.eE abFI_";

    private static string MutateText(Random random, string text, out string what)
    {
        var at = random.Next(text.Length);
        switch (random.Next(4))
        {
            case 0:
                what = $"deleted '{text[at]}' at {at}";
                return text.Remove(at, 1);
            case 1:
                var c = Alphabet[random.Next(Alphabet.Length)];
                what = $"inserted '{c}' at {at}";
                return text.Insert(at, c.ToString());
            case 2:
                var r = Alphabet[random.Next(Alphabet.Length)];
                what = $"replaced '{text[at]}' at {at} with '{r}'";
                return text.Remove(at, 1).Insert(at, r.ToString());
            default:
                var length = random.Next(1, Math.Min(24, text.Length - at) + 1);
                what = $"duplicated {length} chars at {at}";
                return text.Insert(at, text.Substring(at, length));
        }
    }

    private static readonly string[] Numbers =
        ["-1", "0", "1", "2", "3", "4", "6", "24", "46", "99999999999999999999", "1e400", "0.5", "-0", "9223372036854775807", "4294967296"];

    private static string MutateNumber(Random random, string text, out string what)
    {
        var digits = Enumerable.Range(0, text.Length).Where(i => char.IsAsciiDigit(text[i]) && (i == 0 || !char.IsAsciiDigit(text[i - 1]))).ToArray();
        var at = digits[random.Next(digits.Length)];
        var end = at;
        while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
        var replacement = Numbers[random.Next(Numbers.Length)];
        what = $"number '{text[at..end]}' at {at} -> {replacement}";
        return text[..at] + replacement + text[end..];
    }
}
