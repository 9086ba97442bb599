//===- Emulator.cpp - fibers and warp collectives for the emulation tests -===//
//
// See Emulator.h. One launch at a time per process (the tests are
// single-threaded); fibers are ucontext coroutines on a shared set of stacks.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"

#include <cuda_fp16.h>

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

namespace attenuate::cuda::emu {

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kWarp = 32;

struct Copy {
  void *dst;
  const void *src;
  bool valid;
};

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  unsigned tid = 0;
  bool done = false;
  /// While blocked: the generation counter it waits to change, and the
  /// value it saw. The scheduler resumes it only once the counter moved.
  const uint64_t *waitOn = nullptr;
  uint64_t waitSeen = 0;
  std::vector<Copy> openGroup;
  std::deque<std::vector<Copy>> committed;
};

enum class Op { None, Shfl, Ldmatrix, LdmatrixTrans, Mma };

const char *opName(Op op) {
  switch (op) {
  case Op::Shfl:
    return "shfl";
  case Op::Ldmatrix:
    return "ldmatrix";
  case Op::LdmatrixTrans:
    return "ldmatrix.trans";
  case Op::Mma:
    return "mma";
  default:
    return "none";
  }
}

struct Warp {
  unsigned arrived = 0;
  uint64_t generation = 0;
  Op op = Op::None;
  bool bf16 = false;
  float value[kWarp];
  int laneMask[kWarp];
  float shuffled[kWarp];
  const void *address[kWarp];
  uint32_t loaded[kWarp][4];
  uint32_t a[kWarp][4], b[kWarp][2];
  float c[kWarp][4];
};

struct Launch {
  Dim3 grid, block;
  unsigned blockDim = 0;
  const std::function<void(char *)> *body = nullptr;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  unsigned barrierArrived = 0;
  uint64_t barrierGeneration = 0;
  Fiber *current = nullptr;
  ucontext_t scheduler;
  std::string error;
  /// Copies complete at the commit (eager) or at the wait (lazy); see
  /// cpAsyncCommit.
  std::mt19937 rng;
  bool randomCopyTiming = false;
  std::vector<char> smem;
  LaunchStats stats;
};

Launch *active = nullptr;
LaunchStats previousStats;

Fiber &self() { return *active->current; }

/// Returns to the scheduler; resumes when it picks this fiber again.
void yield() { swapcontext(&self().context, &active->scheduler); }

/// Records a kernel bug and parks the fiber for good; launch() throws.
[[noreturn]] void fail(const std::string &message) {
  if (active->error.empty())
    active->error = "thread " + std::to_string(self().tid) + " of block (" +
                    std::to_string(active->block.x) + ", " +
                    std::to_string(active->block.y) + ", " +
                    std::to_string(active->block.z) + "): " + message;
  for (;;)
    yield();
}

void waitWhile(const uint64_t &generation, uint64_t seen) {
  Fiber &f = self();
  while (generation == seen) {
    f.waitOn = &generation;
    f.waitSeen = seen;
    yield();
  }
  f.waitOn = nullptr;
}

/// A warp-wide instruction: `deposit` stores this lane's operands, the last
/// lane to arrive runs `execute` for the warp, then every lane runs `collect`.
template <typename Deposit, typename Execute, typename Collect>
void warpCollective(Op op, Deposit deposit, Execute execute, Collect collect) {
  Fiber &f = self();
  unsigned lane = f.tid % kWarp;
  Warp &w = active->warps[f.tid / kWarp];
  if (w.arrived == 0)
    w.op = op;
  else if (w.op != op)
    fail(std::string("lanes of one warp at different warp-wide "
                     "instructions (") +
         opName(w.op) + " and " + opName(op) + ")");
  deposit(w, lane);
  uint64_t seen = w.generation;
  if (++w.arrived == kWarp) {
    execute(w);
    w.arrived = 0;
    w.op = Op::None;
    ++w.generation;
  } else {
    waitWhile(w.generation, seen);
  }
  collect(w, lane);
}

float bitsToFloat(uint16_t bits, bool bf16) {
  if (bf16) {
    uint32_t word = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &word, sizeof(f));
    return f;
  }
  __half h;
  std::memcpy(&h, &bits, sizeof(bits));
  return __half2float(h);
}

void checkShared(const void *p, size_t bytes, const char *what) {
  const char *c = static_cast<const char *>(p);
  const char *lo = active->smem.data();
  if (c < lo || c + bytes > lo + active->smem.size())
    fail(std::string(what) + " address outside the block's shared memory");
  if ((c - lo) % 16 != 0)
    fail(std::string(what) + " address not 16-byte aligned");
}

void fiberEntry() {
  Fiber &f = self();
  try {
    (*active->body)(active->smem.data());
  } catch (const std::exception &e) {
    if (active->error.empty())
      active->error = std::string("exception in kernel body: ") + e.what();
  }
  f.done = true;
  swapcontext(&f.context, &active->scheduler);
}

} // namespace

unsigned threadIdxX() { return self().tid; }
unsigned blockDimX() { return active->blockDim; }
Dim3 blockIdx() { return active->block; }
Dim3 gridDim() { return active->grid; }

void syncThreads() {
  ++active->stats.barriers;
  uint64_t seen = active->barrierGeneration;
  if (++active->barrierArrived == active->blockDim) {
    active->barrierArrived = 0;
    ++active->barrierGeneration;
    return;
  }
  waitWhile(active->barrierGeneration, seen);
}

float shflXor(float v, int laneMask) {
  float out = 0;
  warpCollective(
      Op::Shfl,
      [&](Warp &w, unsigned lane) {
        w.value[lane] = v;
        w.laneMask[lane] = laneMask;
      },
      [&](Warp &w) {
        for (unsigned l = 0; l < kWarp; ++l)
          w.shuffled[l] = w.value[(l ^ w.laneMask[l]) % kWarp];
      },
      [&](Warp &w, unsigned lane) { out = w.shuffled[lane]; });
  return out;
}

void ldmatrixX4(uint32_t (&r)[4], const void *rowAddress, bool trans) {
  ++active->stats.ldmatrices;
  checkShared(rowAddress, 16, "ldmatrix");
  warpCollective(
      trans ? Op::LdmatrixTrans : Op::Ldmatrix,
      [&](Warp &w, unsigned lane) { w.address[lane] = rowAddress; },
      [&](Warp &w) {
        for (unsigned m = 0; m < 4; ++m) {
          uint16_t e[8][8];
          for (unsigned row = 0; row < 8; ++row)
            std::memcpy(e[row], w.address[8 * m + row], 16);
          for (unsigned l = 0; l < kWarp; ++l) {
            unsigned g = l / 4, t = l % 4;
            uint16_t lo = trans ? e[2 * t][g] : e[g][2 * t];
            uint16_t hi = trans ? e[2 * t + 1][g] : e[g][2 * t + 1];
            w.loaded[l][m] = static_cast<uint32_t>(lo) |
                             (static_cast<uint32_t>(hi) << 16);
          }
        }
      },
      [&](Warp &w, unsigned lane) {
        for (int i = 0; i < 4; ++i)
          r[i] = w.loaded[lane][i];
      });
}

void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
              bool bf16) {
  ++active->stats.mmas;
  warpCollective(
      Op::Mma,
      [&](Warp &w, unsigned lane) {
        std::memcpy(w.a[lane], a, sizeof(a));
        std::memcpy(w.b[lane], b, sizeof(b));
        std::memcpy(w.c[lane], c, sizeof(c));
        if (w.arrived == 0)
          w.bf16 = bf16;
        else if (w.bf16 != bf16)
          fail("mma with mixed element types across lanes");
      },
      [&](Warp &w) {
        float A[16][16], B[16][8], C[16][8];
        auto lo = [&](uint32_t x) {
          return bitsToFloat(static_cast<uint16_t>(x & 0xffffu), w.bf16);
        };
        auto hi = [&](uint32_t x) {
          return bitsToFloat(static_cast<uint16_t>(x >> 16), w.bf16);
        };
        for (unsigned l = 0; l < kWarp; ++l) {
          unsigned g = l / 4, t = l % 4;
          A[g][2 * t] = lo(w.a[l][0]);
          A[g][2 * t + 1] = hi(w.a[l][0]);
          A[g + 8][2 * t] = lo(w.a[l][1]);
          A[g + 8][2 * t + 1] = hi(w.a[l][1]);
          A[g][2 * t + 8] = lo(w.a[l][2]);
          A[g][2 * t + 9] = hi(w.a[l][2]);
          A[g + 8][2 * t + 8] = lo(w.a[l][3]);
          A[g + 8][2 * t + 9] = hi(w.a[l][3]);
          B[2 * t][g] = lo(w.b[l][0]);
          B[2 * t + 1][g] = hi(w.b[l][0]);
          B[2 * t + 8][g] = lo(w.b[l][1]);
          B[2 * t + 9][g] = hi(w.b[l][1]);
          C[g][2 * t] = w.c[l][0];
          C[g][2 * t + 1] = w.c[l][1];
          C[g + 8][2 * t] = w.c[l][2];
          C[g + 8][2 * t + 1] = w.c[l][3];
        }
        float D[16][8];
        for (int i = 0; i < 16; ++i)
          for (int j = 0; j < 8; ++j) {
            double acc = 0;
            for (int k = 0; k < 16; ++k)
              acc += static_cast<double>(A[i][k]) * B[k][j];
            D[i][j] = static_cast<float>(acc + C[i][j]);
          }
        for (unsigned l = 0; l < kWarp; ++l) {
          unsigned g = l / 4, t = l % 4;
          w.c[l][0] = D[g][2 * t];
          w.c[l][1] = D[g][2 * t + 1];
          w.c[l][2] = D[g + 8][2 * t];
          w.c[l][3] = D[g + 8][2 * t + 1];
        }
      },
      [&](Warp &w, unsigned lane) { std::memcpy(c, w.c[lane], sizeof(c)); });
}

void cpAsync16(void *dst, const void *src, bool valid) {
  checkShared(dst, 16, "cp.async destination");
  if (reinterpret_cast<uintptr_t>(src) % 16 != 0)
    fail("cp.async source address not 16-byte aligned");
  if (src == nullptr)
    fail("cp.async from a null address");
  self().openGroup.push_back({dst, src, valid});
}

namespace {
void perform(const std::vector<Copy> &group) {
  for (const Copy &c : group) {
    ++active->stats.copies;
    if (c.valid)
      std::memcpy(c.dst, c.src, 16);
    else
      std::memset(c.dst, 0, 16);
  }
}
} // namespace

// A group may land anywhere between its commit and the wait that retires
// it. Landing late (at the wait) exposes reads that do not wait; landing
// early (at the commit) exposes copies into a buffer that another warp may
// still be reading. With a seed, each group picks one at random.
void cpAsyncCommit() {
  Fiber &f = self();
  if (active->randomCopyTiming && (active->rng() & 1)) {
    perform(f.openGroup);
    f.committed.emplace_back();
  } else {
    f.committed.push_back(std::move(f.openGroup));
  }
  f.openGroup.clear();
}

void cpAsyncWait(int pending) {
  Fiber &f = self();
  while (f.committed.size() > static_cast<size_t>(pending)) {
    perform(f.committed.front());
    f.committed.pop_front();
  }
}

LaunchStats lastLaunchStats() { return previousStats; }

void launch(Dim3 grid, unsigned blockDim, size_t smemBytes,
            const std::function<void(char *smem)> &body, uint32_t seed) {
  if (active)
    throw EmulationError("emulator launches do not nest");
  if (blockDim == 0 || blockDim % kWarp != 0 || blockDim > 1024)
    throw EmulationError("block size " + std::to_string(blockDim) +
                         " is not a multiple of 32 in [32, 1024]");
  // sm_90's opt-in limit per block.
  if (smemBytes > 227 * 1024)
    throw EmulationError("kernel asks for " + std::to_string(smemBytes) +
                         " bytes of shared memory, over sm_90's 227 KiB");
  Launch state;
  state.grid = grid;
  state.blockDim = blockDim;
  state.body = &body;
  state.fibers.resize(blockDim);
  for (unsigned t = 0; t < blockDim; ++t) {
    state.fibers[t].tid = t;
    state.fibers[t].stack.reset(new char[kStackBytes]);
  }
  state.rng.seed(seed);
  state.randomCopyTiming = seed != 0;
  std::vector<unsigned> warpOrder(blockDim / kWarp);
  std::vector<unsigned> order(blockDim);
  active = &state;
  struct Reset {
    ~Reset() { active = nullptr; }
  } reset;

  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        ++state.stats.blocks;
        state.block = {bx, by, bz};
        state.warps.assign(blockDim / kWarp, Warp{});
        state.barrierArrived = 0;
        // 0xffff is a NaN in both element types and in fp32 pairs.
        state.smem.assign(smemBytes, static_cast<char>(0xff));
        for (Fiber &f : state.fibers) {
          f.done = false;
          f.waitOn = nullptr;
          f.openGroup.clear();
          f.committed.clear();
          getcontext(&f.context);
          f.context.uc_stack.ss_sp = f.stack.get();
          f.context.uc_stack.ss_size = kStackBytes;
          f.context.uc_link = nullptr;
          makecontext(&f.context, fiberEntry, 0);
        }
        // The scheduler always resumes the first runnable fiber in `order`,
        // so the first warp runs as far ahead of the others as the
        // barriers allow: the order real hardware is least likely to
        // produce, and the one that exposes missing barriers. A seed
        // permutes which warp leads.
        std::iota(warpOrder.begin(), warpOrder.end(), 0u);
        if (seed != 0)
          std::shuffle(warpOrder.begin(), warpOrder.end(), state.rng);
        for (unsigned w = 0; w < warpOrder.size(); ++w)
          for (unsigned l = 0; l < kWarp; ++l)
            order[w * kWarp + l] = warpOrder[w] * kWarp + l;
        for (;;) {
          Fiber *next = nullptr;
          bool allDone = true;
          for (unsigned t : order) {
            Fiber &f = state.fibers[t];
            if (f.done)
              continue;
            allDone = false;
            if (!f.waitOn || *f.waitOn != f.waitSeen) {
              next = &f;
              break;
            }
          }
          if (allDone)
            break;
          if (!next) {
            unsigned done = 0;
            for (const Fiber &f : state.fibers)
              done += f.done;
            state.error = "deadlock in block (" + std::to_string(bx) + ", " +
                          std::to_string(by) + ", " + std::to_string(bz) +
                          "): " + std::to_string(done) + " of " +
                          std::to_string(blockDim) +
                          " threads exited, the others wait at a barrier or "
                          "warp-wide instruction some threads never reach";
            break;
          }
          state.current = next;
          swapcontext(&state.scheduler, &next->context);
          if (!state.error.empty())
            break;
        }
        if (!state.error.empty()) {
          previousStats = state.stats;
          throw EmulationError(state.error);
        }
      }
  previousStats = state.stats;
}

} // namespace attenuate::cuda::emu
