using System.Globalization;
using System.Text;

namespace NirvanaCluster.Engine.Tokenizers.Text;

/// <summary>
/// Unicode normalization forms C, D, KC and KD (UAX #15), managed and table-driven.
/// Why not <see cref="string.Normalize()"/>: the solution runs with <c>InvariantGlobalization</c>, where .NET's
/// normalization silently returns its input unchanged; tokenizers such as Qwen2.5's declare an NFC normalizer and
/// must see the same text on every machine. Tables come from <see cref="UnicodeNormalizationData"/>.
/// </summary>
public static class UnicodeNormalizer
{
    private const int HangulBase = 0xAC00, HangulCount = 11172, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount;

    private static readonly Lazy<Tables> Data = new(Tables.Parse);

    public static string Normalize(string text, NormalizationForm form)
    {
        ArgumentNullException.ThrowIfNull(text);
        var compatibility = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        // Characters below these bounds are left alone by the form: NFC changes nothing below U+0300, NFD nothing
        // below U+00C0 (À decomposes), the compatibility forms nothing below U+00A0 (no-break space).
        var unchangedBelow = form switch { NormalizationForm.FormC => '\u0300', NormalizationForm.FormD => '\u00C0', _ => '\u00A0' };
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', (char)(unchangedBelow - 1))) return text;

        var tables = Data.Value;
        var decomposed = new List<int>(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            // A lone surrogate passes through as itself (it has no decomposition) rather than becoming U+FFFD.
            var cp = char.IsSurrogatePair(text, i) ? char.ConvertToUtf32(text[i], text[++i]) : text[i];
            Decompose(cp, compatibility, tables, decomposed);
        }
        SortCombiningMarks(decomposed, tables);
        if (form is NormalizationForm.FormC or NormalizationForm.FormKC) Compose(decomposed, tables);

        var builder = new StringBuilder(decomposed.Count + 4);
        foreach (var cp in decomposed)
        {
            if (cp <= char.MaxValue) builder.Append((char)cp);
            else builder.Append(char.ConvertFromUtf32(cp));
        }
        return builder.ToString();
    }

    public static int CombiningClass(int codePoint) => Data.Value.CombiningClass.GetValueOrDefault(codePoint);

    private static void Decompose(int cp, bool compatibility, Tables tables, List<int> output)
    {
        if (cp is >= HangulBase and < HangulBase + HangulCount)
        {
            var index = cp - HangulBase;
            output.Add(LBase + index / NCount);
            output.Add(VBase + index % NCount / TCount);
            if (index % TCount != 0) output.Add(TBase + index % TCount);
            return;
        }
        if ((compatibility && tables.Compatibility.TryGetValue(cp, out var mapping)) || tables.Canonical.TryGetValue(cp, out mapping))
        {
            foreach (var part in mapping) Decompose(part, compatibility, tables, output);
            return;
        }
        output.Add(cp);
    }

    /// <summary>Canonical ordering: stable sort of every run of non-starters by combining class.</summary>
    private static void SortCombiningMarks(List<int> cps, Tables tables)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var ccc = tables.CombiningClass.GetValueOrDefault(cps[i]);
            if (ccc == 0) continue;
            var j = i;
            while (j > 0 && tables.CombiningClass.GetValueOrDefault(cps[j - 1]) > ccc)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
    }

    /// <summary>Canonical composition: each character joins the last starter unless a mark in between blocks it.</summary>
    private static void Compose(List<int> cps, Tables tables)
    {
        var write = 0;
        var starter = -1;
        var lastClass = 0;
        for (var read = 0; read < cps.Count; read++)
        {
            var cp = cps[read];
            var ccc = tables.CombiningClass.GetValueOrDefault(cp);
            if (starter >= 0)
            {
                var adjacent = write - 1 == starter;
                var blocked = !adjacent && (lastClass == 0 || lastClass >= ccc);
                if (!blocked && TryCompose(cps[starter], cp, tables, out var composite))
                {
                    cps[starter] = composite;
                    continue;
                }
            }
            if (ccc == 0) starter = write;
            cps[write++] = cp;
            lastClass = ccc;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int first, int second, Tables tables, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = HangulBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first is >= HangulBase and < HangulBase + HangulCount && (first - HangulBase) % TCount == 0
            && second is > TBase and < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return tables.Compositions.TryGetValue(((long)first << 32) | (uint)second, out composite);
    }

    private sealed class Tables
    {
        public Dictionary<int, int> CombiningClass { get; } = new();
        public Dictionary<int, int[]> Canonical { get; } = new();
        public Dictionary<int, int[]> Compatibility { get; } = new();
        public Dictionary<long, int> Compositions { get; } = new();

        public static Tables Parse()
        {
            var tables = new Tables();
            var excluded = new HashSet<int>();
            foreach (var line in UnicodeNormalizationData.Table.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ');
                switch (fields[0])
                {
                    case "C": tables.CombiningClass[Hex(fields[1])] = int.Parse(fields[2], CultureInfo.InvariantCulture); break;
                    case "D": tables.Canonical[Hex(fields[1])] = fields[2..].Select(Hex).ToArray(); break;
                    case "K": tables.Compatibility[Hex(fields[1])] = fields[2..].Select(Hex).ToArray(); break;
                    case "X":
                        for (var cp = Hex(fields[1]); cp <= Hex(fields[^1]); cp++) excluded.Add(cp);
                        break;
                    default: throw new InvalidDataException($"UnicodeNormalizationData: unknown record '{line}'");
                }
            }
            foreach (var (cp, mapping) in tables.Canonical)
                if (mapping.Length == 2 && !excluded.Contains(cp))
                    tables.Compositions[((long)mapping[0] << 32) | (uint)mapping[1]] = cp;
            return tables;
        }

        private static int Hex(string field) => int.Parse(field, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
