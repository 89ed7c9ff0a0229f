using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace NirvanaCluster.Messages.Framing;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF), the checksum of every
/// tensor chunk. Uses the SSE4.2 / ARMv8 CRC instructions when present, a table otherwise.
/// </summary>
public static class Crc32C
{
    private const uint ReflectedPolynomial = 0x82F63B78;

    private static readonly uint[] Table = BuildTable();

    // x^(2^k) mod p for k = 0..31, used to shift a CRC past 2^k zero bits in Combine.
    private static readonly uint[] PowersOfXSquared = BuildPowersOfXSquared();

    /// <summary>The CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>The CRC-32C of (the bytes that gave <paramref name="crc"/>) followed by <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data);

    /// <summary>The CRC-32C of a possibly multi-segment sequence.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        uint crc = 0;
        foreach (var segment in data)
            crc = Append(crc, segment.Span);
        return crc;
    }

    /// <summary>
    /// The CRC of A followed by B, given only crc(A), crc(B) and the length of B: lets a receiver check a whole
    /// tensor from its per-chunk CRCs without a second pass over the bytes (zlib's crc32_combine, for CRC-32C).
    /// </summary>
    public static uint Combine(uint crcA, uint crcB, long lengthB)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lengthB);
        return MultiplyModP(XToThe8NModP(lengthB), crcA) ^ crcB;
    }

    /// <summary>The table-driven byte-at-a-time update: the portable fallback and the oracle for the intrinsic paths.</summary>
    internal static uint UpdateTable(uint state, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
            state = Table[(byte)(state ^ b)] ^ (state >> 8);
        return state;
    }

    /// <summary>Below this many bytes one dependency chain is as fast as three plus the combining.</summary>
    private const int InterleaveFrom = 3 * 1024;

    private static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
            return data.Length >= InterleaveFrom ? UpdateSse42X64Interleaved(state, data) : UpdateSse42X64(state, data);
        if (Crc32.Arm64.IsSupported)
            return UpdateArm64(state, data);
        return UpdateTable(state, data);
    }

    private static uint UpdateSse42X64(uint state, ReadOnlySpan<byte> data)
    {
        ulong crc = state;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var word in words)
            crc = Sse42.X64.Crc32(crc, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        var state32 = (uint)crc;
        foreach (var b in data[(words.Length * sizeof(ulong))..])
            state32 = Sse42.Crc32(state32, b);
        return state32;
    }

    /// <summary>
    /// The crc32 instruction has a latency of three cycles but issues every cycle: three independent chains over
    /// three thirds of the data run three times as fast as one, and <see cref="Combine"/> joins their CRCs.
    /// </summary>
    private static uint UpdateSse42X64Interleaved(uint state, ReadOnlySpan<byte> data)
    {
        var third = data.Length / 3 / sizeof(ulong) * sizeof(ulong);
        var a = MemoryMarshal.Cast<byte, ulong>(data[..third]);
        var b = MemoryMarshal.Cast<byte, ulong>(data.Slice(third, third));
        var c = MemoryMarshal.Cast<byte, ulong>(data.Slice(2 * third, third));
        ulong ca = state, cb = uint.MaxValue, cc = uint.MaxValue;
        for (var i = 0; i < a.Length; i++)
        {
            ca = Sse42.X64.Crc32(ca, a[i]);
            cb = Sse42.X64.Crc32(cb, b[i]);
            cc = Sse42.X64.Crc32(cc, c[i]);
        }
        var rest = UpdateSse42X64((uint)cc, data[(3 * third)..]);
        // The finished CRCs of the three parts (B and C from a fresh start), joined in order.
        var crc = Combine(Combine(~(uint)ca, ~(uint)cb, third), ~rest, data.Length - 2L * third);
        return ~crc;
    }

    private static uint UpdateArm64(uint state, ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var word in words)
            state = Crc32.Arm64.ComputeCrc32C(state, word);
        foreach (var b in data[(words.Length * sizeof(ulong))..])
            state = Crc32.ComputeCrc32C(state, b);
        return state;
    }

    // Polynomials are stored reflected: bit 31 is x^0. Multiplies a(x) b(x) modulo p(x).
    private static uint MultiplyModP(uint a, uint b)
    {
        uint m = 1u << 31, product = 0;
        while (true)
        {
            if ((a & m) != 0)
            {
                product ^= b;
                if ((a & (m - 1)) == 0)
                    return product;
            }
            m >>= 1;
            b = (b & 1) != 0 ? (b >> 1) ^ ReflectedPolynomial : b >> 1;
        }
    }

    // x^(8n) mod p: the shift that appending n zero bytes applies to a CRC.
    private static uint XToThe8NModP(long n)
    {
        uint p = 1u << 31; // x^0
        var k = 3; // 8n = n * 2^3
        while (n != 0)
        {
            if ((n & 1) != 0)
                p = MultiplyModP(PowersOfXSquared[k & 31], p);
            n >>= 1;
            k++;
        }
        return p;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var bit = 0; bit < 8; bit++)
                c = (c & 1) != 0 ? (c >> 1) ^ ReflectedPolynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }

    private static uint[] BuildPowersOfXSquared()
    {
        var powers = new uint[32];
        var p = 1u << 30; // x^1
        powers[0] = p;
        for (var k = 1; k < 32; k++)
            powers[k] = p = MultiplyModP(p, p);
        return powers;
    }
}
