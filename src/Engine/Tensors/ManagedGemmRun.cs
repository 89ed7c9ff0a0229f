using System.Buffers;
using System.Runtime.CompilerServices;
using NirvanaCluster.Engine.Checkpoints;
using static NirvanaCluster.Engine.Tensors.GemmMicroKernels;

namespace NirvanaCluster.Engine.Tensors;

/// <summary>
/// One <see cref="ManagedGemm"/> call, with its operands pinned by the caller for the duration of <see cref="Execute"/>.
/// C is cut into a grid of rectangular regions, one task each; a task runs the whole blocked algorithm on its region
/// (Goto/BLIS loop nest: columns in blocks of nc, k in blocks of kc with the B block packed, rows in blocks of mc with
/// the A block packed, then 6x16 micro-tiles with the B micro-panel held in L1 while the A block streams from L2).
/// Tasks share nothing but the read-only inputs, so there is one fork-join per call and no barrier between k blocks.
/// </summary>
internal sealed unsafe class ManagedGemmRun
{
    // Zen 3 / Haswell-class sizes: B micro-panel (kc x 16) + A micro-panel (6 x kc) fit the 32 KiB L1,
    // the mc x kc A block fits L2, the kc x nc B block fits a share of L3.
    // Measured on Zen 3 against 96..192 for mc and 192..384 for kc: differences stayed within the noise.
    private const int KcMax = 256;
    private const int McMax = 144;
    private const int NcMax = 4096;
    // Below this many multiply-adds per task, thread hand-off costs more than it saves.
    private const long MinTaskWork = 64L * 64 * 64;
    private const double PackCost = 8;

    private readonly bool _transA, _transB;
    private readonly int _m, _n, _k;
    private readonly float _alpha, _beta;
    private readonly float* _a, _b, _c;
    private readonly nint _lda, _ldb, _ldc;
    private readonly delegate*<int, float*, float*, float*, nint, float, float, void> _kernel;
    private readonly int _threads;
    private readonly int _kBlock;
    private readonly ushort* _bHalf;   // B held as BF16/F16 (then _b is null): widened while packing
    private readonly DType _bType;
    private int _rowParts, _colParts, _rowsPerPart, _colsPerPart;

    public ManagedGemmRun(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc,
        delegate*<int, float*, float*, float*, nint, float, float, void> kernel, int threads,
        ushort* bHalf = null, DType bType = DType.F32)
    {
        _bHalf = bHalf;
        _bType = bType;
        (_transA, _transB, _m, _n, _k, _alpha, _beta) = (transA, transB, m, n, k, alpha, beta);
        _a = a;
        _b = b;
        _c = c;
        (_lda, _ldb, _ldc) = (lda, ldb, ldc);
        _kernel = kernel;
        _threads = threads;
        // Even splits: a 300-deep k is two blocks of 150, not 256 + 44.
        _kBlock = CeilDiv(k, CeilDiv(k, KcMax));
    }

    public void Execute()
    {
        ChooseGrid();
        var tasks = _rowParts * _colParts;
        if (tasks == 1)
        {
            ComputeRegion(0, _m, 0, _n);
            return;
        }
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = _threads }, task =>
        {
            var i0 = task / _colParts * _rowsPerPart;
            var j0 = task % _colParts * _colsPerPart;
            ComputeRegion(i0, Math.Min(_m, i0 + _rowsPerPart), j0, Math.Min(_n, j0 + _colsPerPart));
        });
    }

    /// <summary>
    /// Picks rowParts x colParts regions (rows in whole MR panels, columns in whole NR panels), at most one per
    /// thread, minimizing the largest region's cost: its multiply-adds plus its packing (each region packs every row
    /// of A and every column of B it covers; a packed element costs about as much as <see cref="PackCost"/> of them).
    /// </summary>
    private void ChooseGrid()
    {
        var mPanels = CeilDiv(_m, MR);
        var nPanels = CeilDiv(_n, NR);
        var maxParts = (int)Math.Clamp((long)_m * _n * _k / MinTaskWork, 1, _threads);
        (_rowParts, _colParts) = (1, 1);
        var bestCost = double.MaxValue;
        for (var rows = 1; rows <= Math.Min(maxParts, mPanels); rows++)
            for (var cols = 1; cols <= Math.Min(maxParts / rows, nPanels); cols++)
            {
                double rowSpan = CeilDiv(mPanels, rows) * MR;
                double colSpan = CeilDiv(nPanels, cols) * NR;
                var cost = rowSpan * colSpan + PackCost * (rowSpan + colSpan);
                if (cost < bestCost) (bestCost, _rowParts, _colParts) = (cost, rows, cols);
            }
        _rowsPerPart = CeilDiv(mPanels, _rowParts) * MR;
        _colsPerPart = CeilDiv(nPanels, _colParts) * NR;
        _rowParts = CeilDiv(_m, _rowsPerPart);
        _colParts = CeilDiv(_n, _colsPerPart);
    }

    /// <summary>C[i0..i1, j0..j1] with the blocked loop nest, single-threaded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ComputeRegion(int i0, int i1, int j0, int j1)
    {
        var rows = i1 - i0;
        var cols = j1 - j0;
        var nBlock = RoundUp(CeilDiv(cols, CeilDiv(cols, NcMax)), NR);
        var mBlock = RoundUp(CeilDiv(rows, CeilDiv(rows, McMax)), MR);
        var packedBArray = ArrayPool<float>.Shared.Rent(_kBlock * nBlock + GemmPacking.Slack + 16);
        var packedAArray = ArrayPool<float>.Shared.Rent(_kBlock * mBlock + GemmPacking.Slack + 16);
        var stagingArray = _bHalf == null ? null : ArrayPool<float>.Shared.Rent(_kBlock * NR);
        try
        {
            fixed (float* pb = packedBArray, pa = packedAArray, staging = stagingArray)
            {
                var packedB = Align64(pb);
                var packedA = Align64(pa);
                for (var jc = j0; jc < j1; jc += nBlock)
                {
                    var nc = Math.Min(nBlock, j1 - jc);
                    for (var pc = 0; pc < _k; pc += _kBlock)
                    {
                        var kc = Math.Min(_kBlock, _k - pc);
                        var beta = pc == 0 ? _beta : 1f;
                        if (_bHalf == null) GemmPacking.PackB(_transB, _b, _ldb, pc, jc, kc, nc, 0, CeilDiv(nc, NR), packedB);
                        else GemmPacking.PackBWidening(_transB, _bType, _bHalf, _ldb, pc, jc, kc, nc, 0, CeilDiv(nc, NR), packedB, staging);
                        for (var ic = i0; ic < i1; ic += mBlock)
                        {
                            var mc = Math.Min(mBlock, i1 - ic);
                            GemmPacking.PackA(_transA, _a, _lda, ic, pc, mc, kc, packedA);
                            MacroKernel(packedA, packedB, mc, nc, kc, _c + ic * _ldc + jc, beta);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedAArray);
            ArrayPool<float>.Shared.Return(packedBArray);
            if (stagingArray is not null) ArrayPool<float>.Shared.Return(stagingArray);
        }
    }

    /// <summary>C[mc, nc] = alpha * packedA * packedB + beta * C, micro-tile by micro-tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MacroKernel(float* packedA, float* packedB, int mc, int nc, int kc, float* c, float beta)
    {
        var edge = stackalloc float[MR * NR];
        for (var jr = 0; jr < nc; jr += NR)
        {
            var bPanel = packedB + (nint)jr * kc;
            var cols = Math.Min(NR, nc - jr);
            for (var ir = 0; ir < mc; ir += MR)
            {
                var aPanel = packedA + (nint)ir * kc;
                var rows = Math.Min(MR, mc - ir);
                var cTile = c + ir * _ldc + jr;
                if (rows == MR && cols == NR)
                {
                    _kernel(kc, aPanel, bPanel, cTile, _ldc, _alpha, beta);
                    continue;
                }
                // Edge tile: full tile into scratch, then merge only the valid part.
                _kernel(kc, aPanel, bPanel, edge, NR, 1f, 0f);
                MergeEdge(edge, cTile, _ldc, rows, cols, _alpha, beta);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MergeEdge(float* tile, float* c, nint ldc, int rows, int cols, float alpha, float beta)
    {
        for (var r = 0; r < rows; r++, c += ldc, tile += NR)
            for (var j = 0; j < cols; j++)
                c[j] = beta == 0 ? alpha * tile[j] : alpha * tile[j] + beta * c[j];
    }

    private static float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    private static int CeilDiv(int x, int y) => (x + y - 1) / y;

    private static int RoundUp(int x, int multiple) => CeilDiv(x, multiple) * multiple;
}
