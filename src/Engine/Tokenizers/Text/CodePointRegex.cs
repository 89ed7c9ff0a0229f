using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NirvanaCluster.Engine.Tokenizers.Text;

/// <summary>
/// A regex that matches by code point, as Oniguruma does, although .NET's engine walks UTF-16 units.
/// Why: a character outside the BMP is two surrogates to .NET, each of category Cs, so <c>\p{L}</c> never matches
/// a supplementary letter and <c>[^\s\p{L}\p{N}]?\p{L}+</c> can split an emoji in half. Before matching, every
/// supplementary code point is replaced by one BMP stand-in of the same general category (so every <c>\p{..}</c>,
/// <c>\s</c>, <c>\w</c> answers alike and quantifier counts stay per code point); match bounds are mapped back.
/// </summary>
public sealed class CodePointRegex
{
    private static readonly char[] StandIns = BuildStandIns();
    private readonly Regex _regex;

    public CodePointRegex(string onigurumaPattern)
    {
        Pattern = onigurumaPattern;
        _regex = new Regex(OnigurumaPattern.ToDotNet(onigurumaPattern), RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    public string Pattern { get; }

    /// <summary>Non-empty matches, left to right, as (start, length) in <paramref name="text"/>'s UTF-16 indices.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var found = new List<(int, int)>();
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            for (var m = _regex.Match(text); m.Success; m = m.NextMatch())
                if (m.Length > 0) found.Add((m.Index, m.Length));
            return found;
        }

        // origin[k] = index in text of the k-th code point; origin[^1] = text.Length
        var substituted = new StringBuilder(text.Length);
        var origin = new List<int>(text.Length + 1);
        for (var i = 0; i < text.Length; i++)
        {
            origin.Add(i);
            if (char.IsSurrogatePair(text, i))
            {
                substituted.Append(StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))]);
                i++;
            }
            else substituted.Append(text[i]);
        }
        origin.Add(text.Length);
        for (var m = _regex.Match(substituted.ToString()); m.Success; m = m.NextMatch())
            if (m.Length > 0) found.Add((origin[m.Index], origin[m.Index + m.Length] - origin[m.Index]));
        return found;
    }

    /// <summary>One BMP character per <see cref="UnicodeCategory"/>, none of them ASCII (patterns name ASCII literally).</summary>
    private static char[] BuildStandIns()
    {
        var standIns = new char[Enum.GetValues<UnicodeCategory>().Length];
        void Set(UnicodeCategory category, char c) => standIns[(int)category] = c;
        Set(UnicodeCategory.UppercaseLetter, '\u00C0');
        Set(UnicodeCategory.LowercaseLetter, '\u00E0');
        Set(UnicodeCategory.TitlecaseLetter, '\u01C5');
        Set(UnicodeCategory.ModifierLetter, '\u02B0');
        Set(UnicodeCategory.OtherLetter, '\u00AA');
        Set(UnicodeCategory.NonSpacingMark, '\u0300');
        Set(UnicodeCategory.SpacingCombiningMark, '\u0903');
        Set(UnicodeCategory.EnclosingMark, '\u20DD');
        Set(UnicodeCategory.DecimalDigitNumber, '\u0660');
        Set(UnicodeCategory.LetterNumber, '\u2160');
        Set(UnicodeCategory.OtherNumber, '\u00B2');
        Set(UnicodeCategory.SpaceSeparator, '\u00A0');
        Set(UnicodeCategory.LineSeparator, '\u2028');
        Set(UnicodeCategory.ParagraphSeparator, '\u2029');
        Set(UnicodeCategory.Control, '\u0085');
        Set(UnicodeCategory.Format, '\u00AD');
        Set(UnicodeCategory.Surrogate, '\uD800');
        Set(UnicodeCategory.PrivateUse, '\uE000');
        Set(UnicodeCategory.ConnectorPunctuation, '\u203F');
        Set(UnicodeCategory.DashPunctuation, '\u2010');
        Set(UnicodeCategory.OpenPunctuation, '\u2045');
        Set(UnicodeCategory.ClosePunctuation, '\u2046');
        Set(UnicodeCategory.InitialQuotePunctuation, '\u00AB');
        Set(UnicodeCategory.FinalQuotePunctuation, '\u00BB');
        Set(UnicodeCategory.OtherPunctuation, '\u00A1');
        Set(UnicodeCategory.MathSymbol, '\u00AC');
        Set(UnicodeCategory.CurrencySymbol, '\u00A2');
        Set(UnicodeCategory.ModifierSymbol, '\u00A8');
        Set(UnicodeCategory.OtherSymbol, '\u00A6');
        Set(UnicodeCategory.OtherNotAssigned, '\u0378');
        return standIns;
    }

    internal static char StandInFor(UnicodeCategory category) => StandIns[(int)category];
}
