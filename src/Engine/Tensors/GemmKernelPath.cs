namespace NirvanaCluster.Engine.Tensors;

/// <summary>Which micro-kernel <see cref="ManagedGemm"/> runs; tests force each one to check all of them here.</summary>
public enum GemmKernelPath
{
    /// <summary>256-bit AVX, with FMA where the CPU has it.</summary>
    Vector256,
    /// <summary>128-bit (SSE or Arm64 AdvSimd).</summary>
    Vector128,
    /// <summary>Plain scalar code.</summary>
    Scalar,
}
