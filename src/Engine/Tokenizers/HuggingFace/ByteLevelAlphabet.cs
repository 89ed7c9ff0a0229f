namespace NirvanaCluster.Engine.Tokenizers.HuggingFace;

/// <summary>
/// GPT-2's reversible byte-to-character mapping: printable Latin-1 bytes stand for themselves, the other 68
/// (controls, space, 0x7F-0xA0, 0xAD) move to U+0100.. in byte order, so every byte string becomes a string of
/// visible characters (space is 'Ġ', newline 'Ċ') that BPE vocabularies are written in.
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = new char[256];
    private static readonly Dictionary<char, byte> CharToByte = new(256);

    static ByteLevelAlphabet()
    {
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            ByteToChar[b] = printable ? (char)b : (char)next++;
            CharToByte[ByteToChar[b]] = (byte)b;
        }
    }

    public static char Encode(byte value) => ByteToChar[value];

    public static bool TryDecode(char c, out byte value) => CharToByte.TryGetValue(c, out value);

    /// <summary>The alphabet string of <paramref name="utf8"/>'s bytes.</summary>
    public static string Encode(ReadOnlySpan<byte> utf8)
    {
        var chars = utf8.Length <= 512 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        for (var i = 0; i < utf8.Length; i++) chars[i] = ByteToChar[utf8[i]];
        return new string(chars);
    }
}
