//===- Progress.h - progress of long runs on stderr -------------*- C++ -*-===//
//
// Long tools (attn-eval, attn-calibrate, compression over many layers) report
// "<what> i/N, tokens/s, time left" on stderr: redrawn in place on a
// terminal, one line every few seconds otherwise (logs stay readable).
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_EXECUTION_PROGRESS_H
#define ATTENUATE_EXECUTION_PROGRESS_H

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace attenuate::exec {

class Progress {
public:
  Progress(std::string tool, std::string unit, int64_t total)
      : tool_(std::move(tool)), unit_(std::move(unit)), total_(total),
        tty_(isatty(STDERR_FILENO)), start_(Clock::now()), last_(start_) {}

  /// `done` of `total` units finished, `tokens` processed so far.
  void update(int64_t done, int64_t tokens) {
    auto now = Clock::now();
    bool end = done >= total_;
    double sinceLast = std::chrono::duration<double>(now - last_).count();
    if (!end && sinceLast < (tty_ ? 0.5 : 5.0))
      return;
    last_ = now;
    double el = std::chrono::duration<double>(now - start_).count();
    double left = done > 0 ? el / done * (total_ - done) : 0;
    std::fprintf(stderr, "%s%s: %s %lld/%lld, %.0f tokens/s, %.0fs left%s",
                 tty_ ? "\r" : "", tool_.c_str(), unit_.c_str(),
                 (long long)done, (long long)total_,
                 tokens / (el > 1e-9 ? el : 1e-9), left,
                 tty_ && !end ? "   " : "\n");
    std::fflush(stderr);
  }

private:
  using Clock = std::chrono::steady_clock;
  std::string tool_, unit_;
  int64_t total_;
  bool tty_;
  Clock::time_point start_, last_;
};

} // namespace attenuate::exec

#endif
