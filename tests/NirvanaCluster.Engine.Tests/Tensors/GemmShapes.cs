namespace NirvanaCluster.Engine.Tests.Tensors;

/// <summary>Shapes and call variants shared by the backend tests.</summary>
public static class GemmShapes
{
    /// <summary>
    /// (m, n, k): empty, single elements, sizes below, at and just past the 6x16 micro-tile, odd primes, sizes
    /// around the managed kernel's blocks (k around 256, m around 144, n past 4096 or past the 1024-column blocks of
    /// the one- and two-row path), small and large enough to go multi-threaded.
    /// </summary>
    public static readonly (int M, int N, int K)[] Shapes =
    [
        (0, 0, 0), (0, 7, 5), (7, 0, 5), (7, 5, 0), (1, 1, 1), (1, 1, 7), (1, 19, 1), (17, 1, 3), (2, 3, 4),
        (6, 16, 1), (6, 16, 8), (5, 15, 7), (7, 17, 9), (12, 32, 33), (31, 37, 41), (13, 33, 255), (19, 47, 256),
        (11, 29, 257), (1, 300, 513), (2, 1100, 64), (3, 37, 70), (67, 71, 73), (143, 145, 131), (149, 151, 257), (97, 101, 521), (7, 4099, 3), (13, 520, 257),
    ];

    public static readonly (bool TransA, bool TransB)[] Transposes = [(false, false), (false, true), (true, false), (true, true)];

    /// <summary>Every shape with every transpose; alpha/beta, NaN-filled C and leading-dimension padding rotate.</summary>
    public static TheoryData<GemmCase> Cases()
    {
        var data = new TheoryData<GemmCase>();
        var index = 0;
        foreach (var (m, n, k) in Shapes)
            foreach (var (transA, transB) in Transposes)
                data.Add(Variant(new GemmCase(transA, transB, m, n, k, Seed: index), index++));
        return data;
    }

    /// <summary>The i-th rotation of scaling, NaN C and padding applied to a case.</summary>
    public static GemmCase Variant(GemmCase g, int i) => (i % 4) switch
    {
        0 => g with { Alpha = 1, Beta = 0, NanC = true },
        1 => g with { Alpha = -1.5f, Beta = 0.25f, PadA = 3, PadB = 1, PadC = 2 },
        2 => g with { Alpha = 0.5f, Beta = 0, PadA = 1, PadB = 5, PadC = 7, NanC = true },
        _ => g with { Alpha = 2, Beta = 1, PadC = 1 },
    };
}
