using System.Globalization;
using System.Text;

namespace NirvanaCluster.Engine.Tests.Tokenizers;

/// <summary>A JavaScript literal read from a package's test file: string, number, bool, array, object, or the raw
/// text of any other expression (an identifier, a call).</summary>
public abstract record JsValue
{
    public string AsString() => this is JsString s ? s.Value : throw new InvalidDataException($"expected a string literal, got {this}");

    public int[] AsInts() => this is JsArray a
        ? a.Items.Select(i => i is JsNumber n ? checked((int)n.Value) : throw new InvalidDataException($"expected a number, got {i}")).ToArray()
        : throw new InvalidDataException($"expected an array literal, got {this}");
}

public sealed record JsString(string Value) : JsValue;
public sealed record JsNumber(double Value) : JsValue;
public sealed record JsBool(bool Value) : JsValue;
public sealed record JsArray(IReadOnlyList<JsValue> Items) : JsValue;
public sealed record JsObject(IReadOnlyDictionary<string, JsValue> Fields) : JsValue;
public sealed record JsExpression(string Text) : JsValue;

/// <summary>
/// Just enough of a JavaScript reader to take published test vectors out of a package's source as they are
/// written there (<c>testCase("grabbed", [1, 2646, 1327, 287])</c>), so the tests use the package's data rather
/// than a copy of it.
/// </summary>
public static class JsLiterals
{
    /// <summary>The argument lists of every call <c>name(...)</c> in <paramref name="source"/> (not its definition).</summary>
    public static List<IReadOnlyList<JsValue>> Calls(string source, string name)
    {
        var calls = new List<IReadOnlyList<JsValue>>();
        for (var at = source.IndexOf(name + "(", StringComparison.Ordinal); at >= 0;
             at = source.IndexOf(name + "(", at + 1, StringComparison.Ordinal))
        {
            if (at > 0 && (char.IsLetterOrDigit(source[at - 1]) || source[at - 1] is '_' or '.' or '$')) continue;
            if (source[..at].TrimEnd().EndsWith("function", StringComparison.Ordinal)) continue;
            var i = at + name.Length + 1;
            var args = new List<JsValue>();
            SkipSpace(source, ref i);
            while (source[i] != ')')
            {
                args.Add(Value(source, ref i));
                SkipSpace(source, ref i);
                if (source[i] == ',') i++;
                SkipSpace(source, ref i);
            }
            calls.Add(args);
        }
        return calls;
    }

    /// <summary>The value of <c>const name = ...</c>.</summary>
    public static JsValue Constant(string source, string name)
    {
        var declaration = $"const {name} = ";
        var at = source.IndexOf(declaration, StringComparison.Ordinal);
        if (at < 0) throw new InvalidDataException($"no 'const {name}' in the source");
        var i = at + declaration.Length;
        return Value(source, ref i);
    }

    private static JsValue Value(string s, ref int i)
    {
        SkipSpace(s, ref i);
        var c = s[i];
        if (c is '"' or '\'' or '`') return new JsString(StringLiteral(s, ref i));
        if (c == '[')
        {
            i++;
            var items = new List<JsValue>();
            for (SkipSpace(s, ref i); s[i] != ']'; SkipSpace(s, ref i))
            {
                items.Add(Value(s, ref i));
                SkipSpace(s, ref i);
                if (s[i] == ',') i++;
            }
            i++;
            return new JsArray(items);
        }
        if (c == '{')
        {
            i++;
            var fields = new Dictionary<string, JsValue>();
            for (SkipSpace(s, ref i); s[i] != '}'; SkipSpace(s, ref i))
            {
                var keyStart = i;
                while (char.IsLetterOrDigit(s[i]) || s[i] == '_') i++;
                var key = s[keyStart..i];
                SkipSpace(s, ref i);
                if (s[i++] != ':') throw new InvalidDataException($"expected ':' after '{key}' at offset {i}");
                fields[key] = Value(s, ref i);
                SkipSpace(s, ref i);
                if (s[i] == ',') i++;
            }
            i++;
            return new JsObject(fields);
        }
        if (char.IsAsciiDigit(c) || c == '-')
        {
            var start = i++;
            while (char.IsAsciiDigit(s[i]) || s[i] is '.' or 'e' or 'E') i++;
            return new JsNumber(double.Parse(s[start..i], CultureInfo.InvariantCulture));
        }
        if (s.AsSpan(i).StartsWith("true")) { i += 4; return new JsBool(true); }
        if (s.AsSpan(i).StartsWith("false")) { i += 5; return new JsBool(false); }
        return new JsExpression(Expression(s, ref i));
    }

    /// <summary>Raw text up to the ',' or closing bracket that ends it at depth zero.</summary>
    private static string Expression(string s, ref int i)
    {
        var start = i;
        var depth = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c is '"' or '\'' or '`') { StringLiteral(s, ref i); continue; }
            if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}')
            {
                if (depth == 0) break;
                depth--;
            }
            else if (c == ',' && depth == 0) break;
            i++;
        }
        return s[start..i].Trim();
    }

    private static string StringLiteral(string s, ref int i)
    {
        var quote = s[i++];
        var text = new StringBuilder();
        while (s[i] != quote)
        {
            var c = s[i++];
            if (c != '\\')
            {
                text.Append(c);
                continue;
            }
            var e = s[i++];
            switch (e)
            {
                case 'n': text.Append('\n'); break;
                case 'r': text.Append('\r'); break;
                case 't': text.Append('\t'); break;
                case 'b': text.Append('\b'); break;
                case 'f': text.Append('\f'); break;
                case 'v': text.Append('\v'); break;
                case '0': text.Append('\0'); break;
                case 'x':
                    text.Append((char)int.Parse(s.AsSpan(i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 2;
                    break;
                case 'u' when s[i] == '{':
                    var close = s.IndexOf('}', i);
                    text.Append(char.ConvertFromUtf32(int.Parse(s.AsSpan(i + 1, close - i - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                    i = close + 1;
                    break;
                case 'u':
                    text.Append((char)int.Parse(s.AsSpan(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                    break;
                case '\n': break; // line continuation
                default: text.Append(e); break;
            }
        }
        i++;
        return text.ToString();
    }

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length)
        {
            if (char.IsWhiteSpace(s[i])) i++;
            else if (s.AsSpan(i).StartsWith("//")) i = s.IndexOf('\n', i) is var nl and >= 0 ? nl + 1 : s.Length;
            else if (s.AsSpan(i).StartsWith("/*")) i = s.IndexOf("*/", i, StringComparison.Ordinal) + 2;
            else break;
        }
    }
}
