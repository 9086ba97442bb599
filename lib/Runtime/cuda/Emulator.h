//===- Emulator.h - runs the CUDA kernel bodies on the CPU -------*- C++ -*-===//
//
// A functional emulator for the kernels of this directory, used by the
// emulation tests (test/Unit/Cuda/Emulated*.cpp) on machines without a GPU.
// Not part of the library.
//
// Each thread of a block runs as a fiber on the calling OS thread; blocks run
// one after another. Fibers switch only at block barriers and warp-wide
// instructions, which are "collectives": every lane deposits its operands and
// waits; the last lane to arrive executes the instruction for the whole warp
// with the register layouts of the PTX ISA (ldmatrix, mma.m16n8k16, shfl).
// A collective reached by only part of a warp or block, or by lanes at
// different instructions, is a kernel bug on real hardware too and aborts
// the launch with a message.
//
// Scheduling is adversarial rather than fair: the scheduler always resumes
// the first runnable fiber of one warp order, so the leading warp runs as
// far ahead of the others as the barriers let it. Shared memory starts
// filled with NaN. A cp.async group lands at the wait that retires it (the
// latest the PTX memory model allows), which exposes tiles read before they
// are waited for; with a seed, the leading warp is chosen at random and each
// group lands either at its commit or at its wait, which exposes copies into
// a buffer a slower warp may still be reading (a missing barrier).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_LIB_RUNTIME_CUDA_EMULATOR_H
#define ATTENUATE_LIB_RUNTIME_CUDA_EMULATOR_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace attenuate::cuda::emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// A kernel bug found by the emulator (divergent collective, deadlock,
/// misaligned copy, too much shared memory).
struct EmulationError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Runs body(smem) for every thread of every block of `grid` (1-D blocks of
/// `blockDim` threads, a multiple of 32), with `smemBytes` of shared memory
/// per block. Throws EmulationError on a kernel bug. `seed` != 0 picks the
/// leading warp and the cp.async landing times at random (see above).
void launch(Dim3 grid, unsigned blockDim, size_t smemBytes,
            const std::function<void(char *smem)> &body, uint32_t seed = 0);

/// Statistics of the last launch (for tests that check coverage).
struct LaunchStats {
  uint64_t blocks = 0, mmas = 0, ldmatrices = 0, barriers = 0, copies = 0;
};
LaunchStats lastLaunchStats();

// The current fiber's geometry.
unsigned threadIdxX();
unsigned blockDimX();
Dim3 blockIdx();
Dim3 gridDim();

// Collectives and per-thread operations behind Primitives.cuh.
void syncThreads();
float shflXor(float v, int laneMask);
void ldmatrixX4(uint32_t (&r)[4], const void *rowAddress, bool trans);
void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
              bool bf16);
void cpAsync16(void *dst, const void *src, bool valid);
void cpAsyncCommit();
void cpAsyncWait(int pending);

} // namespace attenuate::cuda::emu

#endif // ATTENUATE_LIB_RUNTIME_CUDA_EMULATOR_H
