using System.Text;
using System.Text.Json;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tokenizers;

namespace NirvanaCluster.Pruning.Calibration;

/// <summary>Where token sequences for calibration and evaluation come from.</summary>
public static class TokenSequences
{
    /// <summary>A JSON file holding an array of arrays of token ids; with <paramref name="equalLength"/>, all rows must match.</summary>
    public static int[][] FromTokenFile(string path, int vocab, bool equalLength)
    {
        JsonLines.RequireFile(path, "token file");
        int[][]? rows;
        try
        {
            rows = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: expected a JSON array of arrays of token ids ({e.Message})", e);
        }
        if (rows is null || rows.Length == 0) throw new InvalidDataException($"{path}: expected a non-empty JSON array of arrays of token ids");
        for (var r = 0; r < rows.Length; r++)
        {
            if (rows[r] is null || rows[r].Length == 0) throw new InvalidDataException($"{path}: row {r} is empty");
            for (var t = 0; t < rows[r].Length; t++)
                if (rows[r][t] < 0 || rows[r][t] >= vocab)
                    throw new InvalidDataException($"{path}: row {r} position {t} holds token id {rows[r][t]}, outside the vocabulary [0, {vocab})");
            if (equalLength && rows[r].Length != rows[0].Length)
                throw new InvalidDataException($"{path}: row {r} has {rows[r].Length} tokens, row 0 has {rows[0].Length}; calibration rows must have equal length");
        }
        return rows;
    }

    /// <summary>Whether a file holds a JSON array of arrays of integers: the kind `nirvana sample --force` may replace.</summary>
    public static bool IsTokenFile(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<int[][]>(stream) is { } rows && rows.All(r => r is not null);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>Plain text, or JSONL whose lines carry a "text" field; documents are joined with a blank line.</summary>
    public static string ReadText(string path)
    {
        JsonLines.RequireFile(path, "text file");
        if (!path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return File.ReadAllText(path);
        var documents = JsonLines.Read(path, root => JsonLines.RequiredString(root, "text"));
        return string.Join("\n\n", documents);
    }

    /// <summary>Tokenizes the text once and cuts it into non-overlapping chunks of <paramref name="length"/> tokens (the tail is dropped).</summary>
    public static int[][] Chunks(string text, ITokenizer tokenizer, int length, string source)
    {
        if (length < 2) throw new ArgumentOutOfRangeException(nameof(length), $"--seq-len must be at least 2 (got {length})");
        var ids = tokenizer.Encode(text, tokenizer.AddBosByDefault);
        if (ids.Length < length) throw new InvalidDataException($"{source}: {ids.Length} tokens is shorter than one chunk of {length}");
        return Enumerable.Range(0, ids.Length / length).Select(i => ids.AsSpan(i * length, length).ToArray()).ToArray();
    }

    /// <summary>Draws <paramref name="count"/> windows of <paramref name="length"/> tokens at seeded random offsets (the authors' calibration sampling).</summary>
    public static int[][] RandomWindows(string text, ITokenizer tokenizer, int count, int length, int seed, string source)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"--samples must be positive (got {count})");
        if (length < 2) throw new ArgumentOutOfRangeException(nameof(length), $"--seq-len must be at least 2 (got {length})");
        var ids = tokenizer.Encode(text, addBos: false);
        if (ids.Length < length)
            throw new InvalidDataException($"{source}: the calibration text has {ids.Length} tokens, shorter than --seq-len {length}");
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => ids.AsSpan(rng.Next(ids.Length - length + 1), length).ToArray()).ToArray();
    }

    /// <summary>Samples drawn from the model itself (BOS, then temperature-1 sampling), for users with no data.</summary>
    public static int[][] Generated(LlamaShard model, int count, int length, int seed, int bos, IProgress<int>? progress = null)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"--samples must be positive (got {count})");
        if (length < 2) throw new ArgumentOutOfRangeException(nameof(length), $"--seq-len must be at least 2 (got {length})");
        var prompts = Enumerable.Range(0, count).Select(_ => new[] { bos }).ToArray();
        var done = 0;
        return Generator.Generate(model, prompts, length - 1, temperature: 1f, seed,
            onToken: progress is null ? null : (b, _) => { if (b == 0) progress.Report(++done); });
    }

    public static string Describe(IReadOnlyList<int[]> sequences) =>
        new StringBuilder().Append(sequences.Count).Append(" x ").Append(sequences.Count == 0 ? 0 : sequences[0].Length).Append(" tokens").ToString();
}
