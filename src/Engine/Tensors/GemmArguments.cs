namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// Entry checks shared by the fast GEMM backends, so a bad call fails in managed code with a message naming the
/// argument instead of reading out of bounds in a kernel or in native code.
/// </summary>
internal static class GemmArguments
{
    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) naming the first inconsistent argument.</summary>
    public static void Validate(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);

        // As stored: A is [m, k] or, transposed, [k, m]; B is [k, n] or, transposed, [n, k]; C is [m, n].
        var aLength = CheckMatrix(a, nameof(a), lda, nameof(lda), transA ? k : m, transA ? m : k, "transA", transA, m, n, k);
        var bLength = CheckMatrix(b, nameof(b), ldb, nameof(ldb), transB ? n : k, transB ? k : n, "transB", transB, m, n, k);
        var cLength = CheckMatrix(c, nameof(c), ldc, nameof(ldc), m, n, null, false, m, n, k);

        // Writing C while reading an overlapping A or B would silently return garbage.
        var written = c[..cLength];
        if (written.Overlaps(a[..aLength]))
            throw new ArgumentException("Output c overlaps input a; GEMM needs distinct buffers.", nameof(c));
        if (written.Overlaps(b[..bLength]))
            throw new ArgumentException("Output c overlaps input b; GEMM needs distinct buffers.", nameof(c));
    }

    /// <summary>Elements a row-major [rows, cols] matrix with row stride <paramref name="ld"/> spans.</summary>
    /// <summary>
    /// Validates, then answers the cases with no product to form (m or n is 0; k is 0 or alpha is 0: C = beta C)
    /// so that no backend needs to: BLAS rejects lda = 0 even when K = 0 and prints to stderr. True when handled.
    /// </summary>
    public static bool ValidateAndHandleDegenerate(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (m == 0 || n == 0) return true;
        if (k != 0 && alpha != 0) return false;
        ScaleOutput(beta, c, m, n, ldc);
        return true;
    }

    /// <summary>
    /// The checks of <see cref="ValidateAndHandleDegenerate"/> for a product whose B is a weight matrix (its shape is
    /// checked by the caller; it cannot overlap fp32 buffers): A and C as above, then the degenerate cases.
    /// </summary>
    public static bool ValidateWeightProductAndHandleDegenerate(bool transA, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, float beta, Span<float> c, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var aLength = CheckMatrix(a, nameof(a), lda, nameof(lda), transA ? k : m, transA ? m : k, "transA", transA, m, n, k);
        var cLength = CheckMatrix(c, nameof(c), ldc, nameof(ldc), m, n, null, false, m, n, k);
        if (c[..cLength].Overlaps(a[..aLength]))
            throw new ArgumentException("Output c overlaps input a; GEMM needs distinct buffers.", nameof(c));
        if (m == 0 || n == 0) return true;
        if (k != 0 && alpha != 0) return false;
        ScaleOutput(beta, c, m, n, ldc);
        return true;
    }

    public static long RequiredLength(int rows, int cols, int ld)
        => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    /// <summary>C = beta * C over the [m, n] window: the whole GEMM when k = 0 or alpha = 0 (A and B unread).</summary>
    public static void ScaleOutput(float beta, Span<float> c, int m, int n, int ldc)
    {
        for (var i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>Checks one operand and returns how many of its elements the GEMM touches.</summary>
    private static int CheckMatrix(ReadOnlySpan<float> data, string name, int ld, string ldName, int rows, int cols,
        string? transName, bool transposed, int m, int n, int k)
    {
        var layout = transName is null ? "" : $", {transName}={(transposed ? "true" : "false")}";
        if (ld < cols || ld < 0)
            throw new ArgumentOutOfRangeException(ldName, ld,
                $"Leading dimension {ldName} must be at least {cols} (matrix {name} is stored as [{rows}, {cols}] " +
                $"for m={m}, n={n}, k={k}{layout}).");
        var needed = RequiredLength(rows, cols, ld);
        if (needed > data.Length)
            throw new ArgumentException(
                $"Matrix {name} needs at least {needed} elements (stored as [{rows}, {cols}] with {ldName}={ld} " +
                $"for m={m}, n={n}, k={k}{layout}) but has {data.Length}.", name);
        return (int)needed;
    }
}
