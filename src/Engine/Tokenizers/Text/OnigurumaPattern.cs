using System.Globalization;
using System.Text;

namespace NirvanaCluster.Engine.Tokenizers.Text;

/// <summary>
/// Translates a regex written for Oniguruma (the engine Hugging Face tokenizers compiles <c>tokenizer.json</c>
/// patterns with) into .NET syntax. Both share Perl's core, <c>\p{..}</c>, lookarounds and <c>(?i:..)</c>; the
/// differences handled here are possessive quantifiers (<c>a*+</c>, which .NET lacks: rewritten as the equivalent
/// atomic group <c>(?&gt;a*)</c>) and <c>\x{HHHH}</c> escapes. Constructs .NET would read differently (class
/// intersection <c>&amp;&amp;</c>, <c>\h</c>) are rejected with the offending position rather than mistranslated.
/// </summary>
public static class OnigurumaPattern
{
    public static string ToDotNet(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var position = 0;
        var result = ParseSequence(pattern, ref position, insideGroup: false);
        if (position != pattern.Length)
            throw new ArgumentException($"regex '{pattern}': unbalanced ')' at offset {position}", nameof(pattern));
        return result;
    }

    /// <summary>Parses atoms and quantifiers up to an unmatched ')' (left unconsumed) or the end.</summary>
    private static string ParseSequence(string p, ref int i, bool insideGroup)
    {
        var output = new StringBuilder();
        var atomStart = -1; // where the last quantifiable atom begins in output
        while (i < p.Length)
        {
            var c = p[i];
            if (c == ')')
            {
                if (!insideGroup) throw new ArgumentException($"regex '{p}': unbalanced ')' at offset {i}", nameof(p));
                break;
            }
            if (c == '|')
            {
                output.Append(c);
                i++;
                atomStart = -1;
                continue;
            }
            if (IsQuantifierStart(p, i))
            {
                var quantifier = ReadQuantifier(p, ref i);
                if (i < p.Length && p[i] == '+' && atomStart >= 0)
                {
                    i++; // possessive: X*+ == (?>X*)
                    var atom = output.ToString(atomStart, output.Length - atomStart);
                    output.Length = atomStart;
                    output.Append("(?>").Append(atom).Append(quantifier).Append(')');
                }
                else
                {
                    output.Append(quantifier);
                    if (i < p.Length && p[i] == '?') output.Append(p[i++]); // lazy stays as is
                }
                atomStart = -1;
                continue;
            }
            atomStart = output.Length;
            switch (c)
            {
                case '\\': output.Append(ReadEscape(p, ref i)); break;
                case '[': output.Append(ReadClass(p, ref i)); break;
                case '(':
                    var head = ReadGroupHead(p, ref i);
                    var body = ParseSequence(p, ref i, insideGroup: true);
                    if (i >= p.Length) throw new ArgumentException($"regex '{p}': group opened is never closed", nameof(p));
                    i++; // ')'
                    output.Append(head).Append(body).Append(')');
                    break;
                default:
                    output.Append(c);
                    i++;
                    break;
            }
        }
        return output.ToString();
    }

    private static bool IsQuantifierStart(string p, int i) =>
        p[i] is '*' or '+' or '?' || (p[i] == '{' && TryReadBraces(p, i, out _));

    private static string ReadQuantifier(string p, ref int i)
    {
        if (p[i] != '{') return p[i++].ToString();
        TryReadBraces(p, i, out var length);
        var text = p.Substring(i, length);
        i += length;
        return text;
    }

    /// <summary>A brace quantifier <c>{n}</c>, <c>{n,}</c>, <c>{n,m}</c>; any other brace is a literal.</summary>
    private static bool TryReadBraces(string p, int i, out int length)
    {
        length = 0;
        var j = i + 1;
        var digits = 0;
        while (j < p.Length && (char.IsAsciiDigit(p[j]) || p[j] == ','))
        {
            if (char.IsAsciiDigit(p[j])) digits++;
            j++;
        }
        if (j >= p.Length || p[j] != '}' || digits == 0) return false;
        length = j - i + 1;
        return true;
    }

    private static string ReadEscape(string p, ref int i)
    {
        if (i + 1 >= p.Length) throw new ArgumentException($"regex '{p}': trailing backslash", nameof(p));
        var c = p[i + 1];
        if (c is 'p' or 'P' && i + 2 < p.Length && p[i + 2] == '{')
        {
            var close = p.IndexOf('}', i + 3);
            if (close < 0) throw new ArgumentException($"regex '{p}': unterminated \\{c}{{ at offset {i}", nameof(p));
            var text = p.Substring(i, close - i + 1);
            i = close + 1;
            return text;
        }
        if (c == 'x' && i + 2 < p.Length && p[i + 2] == '{')
        {
            var close = p.IndexOf('}', i + 3);
            if (close < 0) throw new ArgumentException($"regex '{p}': unterminated \\x{{ at offset {i}", nameof(p));
            var value = int.Parse(p.AsSpan(i + 3, close - i - 3), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            i = close + 1;
            if (value > 0xFFFF)
                throw new ArgumentException($"regex '{p}': \\x{{{value:X}}} lies outside the BMP, which .NET patterns cannot name", nameof(p));
            return $"\\u{value:X4}";
        }
        if (c is 'h' or 'H')
            throw new ArgumentException($"regex '{p}': \\{c} (Oniguruma hex digit class) has no .NET equivalent (offset {i})", nameof(p));
        i += 2;
        return p.Substring(i - 2, 2);
    }

    private static string ReadClass(string p, ref int i)
    {
        var start = i;
        i++; // '['
        if (i < p.Length && p[i] == '^') i++;
        if (i < p.Length && p[i] == ']') i++; // a leading ']' is literal
        while (i < p.Length && p[i] != ']')
        {
            if (p[i] == '\\') { ReadEscape(p, ref i); continue; }
            if (p[i] == '[')
                throw new ArgumentException($"regex '{p}': nested character class at offset {i} is Oniguruma-only", nameof(p));
            if (p[i] == '&' && i + 1 < p.Length && p[i + 1] == '&')
                throw new ArgumentException($"regex '{p}': class intersection '&&' at offset {i} is Oniguruma-only", nameof(p));
            i++;
        }
        if (i >= p.Length) throw new ArgumentException($"regex '{p}': character class at offset {start} is never closed", nameof(p));
        i++; // ']'
        return TranslateClassEscapes(p.Substring(start, i - start));
    }

    private static string TranslateClassEscapes(string cls)
    {
        if (!cls.Contains("\\x{", StringComparison.Ordinal)) return cls;
        var output = new StringBuilder();
        for (var i = 0; i < cls.Length;)
        {
            if (cls[i] == '\\') output.Append(ReadEscape(cls, ref i));
            else output.Append(cls[i++]);
        }
        return output.ToString();
    }

    /// <summary>Reads <c>(</c> plus any <c>?:</c>, <c>?=</c>, <c>?&lt;=</c>, <c>?&lt;name&gt;</c>, <c>?i:</c> prefix.</summary>
    private static string ReadGroupHead(string p, ref int i)
    {
        var start = i;
        i++; // '('
        if (i >= p.Length || p[i] != '?') return "(";
        i++;
        if (i < p.Length && p[i] is ':' or '=' or '!' or '>') i++;
        else if (i < p.Length && p[i] == '<')
        {
            if (i + 1 < p.Length && p[i + 1] is '=' or '!') i += 2;
            else
            {
                var close = p.IndexOf('>', i);
                if (close < 0) throw new ArgumentException($"regex '{p}': unterminated group name at offset {i}", nameof(p));
                i = close + 1;
            }
        }
        else
        {
            // inline options: (?i:...) scoped, or (?i) whose ')' the caller consumes as an empty group
            while (i < p.Length && (char.IsAsciiLetter(p[i]) || p[i] == '-')) i++;
            if (i < p.Length && p[i] == ':') i++;
        }
        return p.Substring(start, i - start);
    }
}
