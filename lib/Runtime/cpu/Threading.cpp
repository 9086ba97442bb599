//===- Threading.cpp - a persistent worker pool for the kernels -----------===//
//
// Decode calls attention once per layer per token, often on a few
// microseconds of work, so threads are started once and parked on a
// condition variable rather than spawned per call. One job runs at a time;
// a second caller waits for the first to finish, and a job started from
// inside a worker (nothing does this today) runs inline instead of
// deadlocking.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <pthread.h>
#include <system_error>
#include <thread>

namespace attenuate::runtime::detail {

namespace {

/// More threads than this would only exhaust memory for stacks and scratch.
constexpr int kMaxThreads = 1024;

std::atomic<int> requestedThreads{0};
thread_local bool insideWorker = false;

class Pool {
public:
  /// Runs `body` over the tasks on the caller and the first
  /// `participants` - 1 of `poolSize` pool threads.
  void run(int64_t tasks, int poolSize, int participants,
           const std::function<void(int64_t, int)> &body) {
    std::lock_guard<std::mutex> jobLock(jobMutex);
    resize(poolSize);
    {
      std::lock_guard<std::mutex> lock(mutex);
      job = &body;
      jobTasks = tasks;
      jobSlots = participants;
      next.store(0, std::memory_order_relaxed);
      busy = static_cast<int>(threads.size());
      ++generation;
    }
    wake.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return busy == 0; });
    job = nullptr;
  }

private:
  /// Starts or stops threads so that exactly `count` exist; called with
  /// jobMutex held and no job running.
  void resize(int count) {
    if (static_cast<int>(threads.size()) == count)
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    for (std::thread &t : threads)
      t.join();
    threads.clear();
    stopping = false;
    for (int i = 0; i < count; ++i)
      threads.emplace_back(
          [this, i, start = generation] { loop(i + 1, start); });
  }

  void loop(int slot, uint64_t seen) {
    insideWorker = true;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || generation != seen; });
        if (stopping)
          return;
        seen = generation;
      }
      work(slot);
      std::lock_guard<std::mutex> lock(mutex);
      if (--busy == 0)
        done.notify_all();
    }
  }

  void work(int slot) {
    if (slot >= jobSlots)
      return;
    for (;;) {
      int64_t task = next.fetch_add(1, std::memory_order_relaxed);
      if (task >= jobTasks)
        return;
      (*job)(task, slot);
    }
  }

  std::mutex jobMutex;
  std::mutex mutex;
  std::condition_variable wake, done;
  std::vector<std::thread> threads;
  bool stopping = false;
  uint64_t generation = 0;
  int busy = 0;
  const std::function<void(int64_t, int)> *job = nullptr;
  int64_t jobTasks = 0;
  int jobSlots = 0;
  std::atomic<int64_t> next{0};
};

Pool *currentPool = nullptr;
std::once_flag poolOnce;

/// A forked child has none of the parent's workers, and a job the parent
/// was running may have left the pool's mutexes held: the child starts over
/// with a fresh pool. The old one is leaked, since destroying its
/// std::thread objects would terminate.
void resetPoolInChild() { currentPool = new Pool; }

/// Never destroyed: parked workers would otherwise be joined by a static
/// destructor at exit, racing any host thread still inside a kernel.
Pool &pool() {
  std::call_once(poolOnce, [] {
    currentPool = new Pool;
    pthread_atfork(nullptr, nullptr, resetPoolInChild);
  });
  return *currentPool;
}

} // namespace

int numThreads() {
  int n = requestedThreads.load(std::memory_order_relaxed);
  if (n > 0)
    return n;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(std::min<unsigned>(hw, kMaxThreads)) : 1;
}

void parallelFor(int64_t tasks, int slots,
                 const std::function<void(int64_t, int)> &body) {
  int threads = numThreads();
  int participants =
      static_cast<int>(std::min<int64_t>({tasks, slots, threads}));
  if (participants <= 1 || insideWorker) {
    for (int64_t t = 0; t < tasks; ++t)
      body(t, 0);
    return;
  }
  // The pool keeps its size between jobs; only the first `participants`
  // slots take tasks, so a short job does not shrink it.
  Pool &p = pool();
  try {
    p.run(tasks, threads - 1, participants, body);
  } catch (const std::system_error &) {
    // No threads could be started (a sandbox, a thread limit): the work is
    // still correct on the calling thread alone.
    for (int64_t t = 0; t < tasks; ++t)
      body(t, 0);
  }
}

} // namespace attenuate::runtime::detail

extern "C" void attn_set_num_threads(int n) {
  using namespace attenuate::runtime::detail;
  requestedThreads.store(std::clamp(n, 0, kMaxThreads),
                         std::memory_order_relaxed);
}
