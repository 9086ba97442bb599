//===- attn-exec.cpp - run a compiled attn-plan without MLIR --------------===//
//
//   attn-exec model.plan --input=tokens.npy --input=positions.npy
//       [--input=...] --output=logits.npy [--compare=ref.npy --rtol --atol]
//       [--device=cpu|cuda] [--attn-params=a.safetensors,...]
//       [--num-threads=N] [--repeat=N]
//   attn-exec model.plan --generate=N --prompt=tokens.npy --cache-len=C
//
// The plan comes from `attn-opt m.mlir --attn-lower-to-cuda=plan=m.plan`.
// Inputs bind in order to the entry's arguments (a .safetensors input gives
// several, in file order), as for attn-run; parameters come from the
// archives the plan records, or --attn-params. --generate runs greedy
// decoding on an imported model's plan (tokens, positions, then the caches
// that outputs 1.. return): one prefill call, then one call per token with
// the caches kept in the device's memory, and reports tokens/s.
// Builds with -DATTN_ENABLE_COMPILER=OFF. Every error is one line on stderr
// and a non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Execution/Npy.h"
#include "attenuate/Execution/TensorFiles.h"
#include "attenuate/Params/Safetensors.h"
#include "attenuate/Plan/Executor.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using attenuate::exec::HostTensor;
namespace params = attenuate::params;
namespace plan = attenuate::plan;

namespace {

struct Options {
  std::string planPath;
  std::vector<std::string> inputs, outputs, compare, archives;
  double rtol = 1e-4, atol = 1e-5;
  std::string device = "cpu";
  int threads = 0, repeat = 1;
  int generate = 0;
  bool listDevices = false;
  std::string prompt;
  int64_t cacheLen = 0;
};

int fail(const std::string &msg) {
  std::fflush(stdout); // what was printed comes before the error
  std::fprintf(stderr, "attn-exec: %s\n", msg.c_str());
  return 1;
}

void usage() {
  std::printf(
      "USAGE: attn-exec <plan> [options]\n\n"
      "Runs an attn-plan (attn-opt --attn-lower-to-cuda=plan=...) on the CPU\n"
      "or CUDA kernels, without MLIR.\n\n"
      "  --input=FILE         input .npy (or .safetensors for several), in "
      "order\n"
      "  --output=FILE        output .npy per result, or one .safetensors\n"
      "  --compare=FILE       reference .npy per result (--rtol, --atol)\n"
      "  --device=cpu|cuda    where the kernels run (default cpu)\n"
      "  --device=cuda-check  no device: every CUDA kernel call checks its\n"
      "                       arguments only (results are zeros)\n"
      "  --attn-params=A,B    parameter archives replacing the plan's\n"
      "  --num-threads=N      CPU kernel threads (0: all cores)\n"
      "  --repeat=N           call N times, report the median time\n"
      "  --generate=N         greedy decoding of N tokens after --prompt\n"
      "  --prompt=FILE        prompt token ids [B, S] (.npy, int64)\n"
      "  --cache-len=C        cache capacity for --generate (default S+N)\n"
      "  --list-devices       say which devices this build can run on here\n");
}

bool parseArgs(int argc, char **argv, Options &o, std::string &error) {
  auto split = [](const std::string &v, std::vector<std::string> &out) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos)
        comma = v.size();
      if (comma > start)
        out.push_back(v.substr(start, comma - start));
      start = comma + 1;
    }
  };
  auto integer = [&](const std::string &name, const std::string &v, int64_t lo,
                     int64_t &out) {
    char *end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || x < lo || x > (1ll << 40)) {
      error = "--" + name + ": expected an integer >= " + std::to_string(lo) +
              ", got '" + v + "'";
      return false;
    }
    out = x;
    return true;
  };
  auto number = [&](const std::string &name, const std::string &v,
                    double &out) {
    char *end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(x >= 0) || !std::isfinite(x)) {
      error = "--" + name + ": expected a non-negative number, got '" + v + "'";
      return false;
    }
    out = x;
    return true;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    }
    if (a == "--list-devices") {
      o.listDevices = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      if (!o.planPath.empty()) {
        error = "one plan only (got '" + o.planPath + "' and '" + a + "')";
        return false;
      }
      o.planPath = a;
      continue;
    }
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = "--" + name + " needs a value";
      return false;
    }
    int64_t x;
    if (name == "input")
      o.inputs.push_back(value);
    else if (name == "output")
      o.outputs.push_back(value);
    else if (name == "compare")
      o.compare.push_back(value);
    else if (name == "attn-params")
      split(value, o.archives);
    else if (name == "rtol") {
      if (!number(name, value, o.rtol))
        return false;
    } else if (name == "atol") {
      if (!number(name, value, o.atol))
        return false;
    } else if (name == "device") {
      if (value != "cpu" && value != "cuda" && value != "cuda-check") {
        error =
            "--device: expected cpu, cuda or cuda-check, got '" + value + "'";
        return false;
      }
      o.device = value;
    } else if (name == "num-threads") {
      if (!integer(name, value, 0, x))
        return false;
      o.threads = static_cast<int>(x);
    } else if (name == "repeat") {
      if (!integer(name, value, 1, x))
        return false;
      o.repeat = static_cast<int>(x);
    } else if (name == "generate") {
      if (!integer(name, value, 1, x))
        return false;
      o.generate = static_cast<int>(x);
    } else if (name == "prompt")
      o.prompt = value;
    else if (name == "cache-len") {
      if (!integer(name, value, 1, x))
        return false;
      o.cacheLen = x;
    } else {
      error = "unknown option --" + name + " (see --help)";
      return false;
    }
  }
  if (o.planPath.empty() && !o.listDevices) {
    error = "no plan given (attn-exec <plan> ...; see --help)";
    return false;
  }
  return true;
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// Greedy decoding: tokens, positions, caches... -> logits, caches...
int generate(const Options &o, plan::Executor &ex) {
  const plan::Plan &p = ex.plan();
  std::string error;
  size_t ni = p.inputs.size();
  if (ni < 2 || p.outputs.size() != ni - 1)
    return fail("--generate needs a plan of (tokens, positions, caches...) -> "
                "(logits, caches...); this one takes " +
                std::to_string(ni) + " inputs and returns " +
                std::to_string(p.outputs.size()));
  for (size_t k = 1; k < p.outputs.size(); ++k)
    if (ex.outputAliasesInput(k) != static_cast<int64_t>(k + 1))
      return fail("--generate: output " + std::to_string(k) + " is not input " +
                  std::to_string(k + 1) +
                  " updated in place (not an imported decoder's plan)");
  HostTensor prompt;
  if (o.prompt.empty())
    return fail("--generate needs --prompt=tokens.npy");
  if (!attenuate::exec::readNpy(o.prompt, prompt, error))
    return fail(error);
  if (prompt.dtype != params::DType::I64 || prompt.shape.size() != 2 ||
      prompt.shape[1] < 1)
    return fail("--prompt: expected int64 [batch, length], got " +
                prompt.describe());
  int64_t B = prompt.shape[0], S = prompt.shape[1];
  int64_t C = o.cacheLen ? o.cacheLen : S + o.generate;
  if (C < S + o.generate)
    return fail("--cache-len " + std::to_string(C) + " is less than the " +
                std::to_string(S + o.generate) + " tokens generated");

  std::vector<HostTensor> inputs(ni);
  inputs[0] = prompt;
  inputs[1] = HostTensor::zeros(params::DType::I64, {B, S});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      inputs[1].data<int64_t>()[b * S + s] = s;
  for (size_t i = 2; i < ni; ++i) {
    const plan::Input &in = p.inputs[i];
    if (in.dtype != params::DType::F32 || in.shape.size() < 2)
      return fail("--generate: input " + std::to_string(i) + " (" + in.name +
                  ") is not a cache [batch, capacity, ...]");
    std::vector<int64_t> shape = {B, C};
    for (size_t k = 2; k < in.shape.size(); ++k) {
      if (in.shape[k].isScalar)
        return fail("--generate: cache " + in.name + " has a dynamic dim " +
                    std::to_string(k));
      shape.push_back(in.shape[k].value);
    }
    inputs[i] = HostTensor::zeros(params::DType::F32, shape);
  }
  std::vector<bool> skip(p.outputs.size(), true), keep(ni, false);
  skip[0] = false;

  auto argmaxLast = [&](const HostTensor &logits, std::vector<int64_t> &next) {
    int64_t V = logits.shape.back(), T = logits.shape[1];
    next.assign(B, 0);
    for (int64_t b = 0; b < B; ++b) {
      const float *row = logits.data<float>() + (b * T + T - 1) * V;
      next[b] = std::max_element(row, row + V) - row;
    }
  };

  std::vector<HostTensor> outputs;
  auto t0 = std::chrono::steady_clock::now();
  if (!ex.run(inputs, outputs, keep, skip, error))
    return fail(error);
  double prefill = seconds(t0);
  std::vector<int64_t> next;
  argmaxLast(outputs[0], next);
  std::vector<std::vector<int64_t>> generated(B);
  for (int64_t b = 0; b < B; ++b)
    generated[b].push_back(next[b]);

  // Decode: the caches stay where the previous call updated them.
  for (size_t i = 2; i < ni; ++i) {
    keep[i] = true;
    inputs[i].bytes.clear();
    inputs[i].bytes.shrink_to_fit();
  }
  inputs[0] = HostTensor::zeros(params::DType::I64, {B, 1});
  inputs[1] = HostTensor::zeros(params::DType::I64, {B, 1});
  std::vector<double> times;
  auto tDecode = std::chrono::steady_clock::now();
  for (int step = 1; step < o.generate; ++step) {
    for (int64_t b = 0; b < B; ++b) {
      inputs[0].data<int64_t>()[b] = next[b];
      inputs[1].data<int64_t>()[b] = S + step - 1;
    }
    auto ts = std::chrono::steady_clock::now();
    if (!ex.run(inputs, outputs, keep, skip, error))
      return fail("decode step " + std::to_string(step) + ": " + error);
    times.push_back(seconds(ts));
    argmaxLast(outputs[0], next);
    for (int64_t b = 0; b < B; ++b)
      generated[b].push_back(next[b]);
  }
  double decode = seconds(tDecode);
  std::printf("device: %s\n", ex.backend().name());
  std::printf("prefill: %lld x %lld tokens in %.6f s (%.1f tokens/s)\n",
              (long long)B, (long long)S, prefill, B * S / prefill);
  if (!times.empty()) {
    std::sort(times.begin(), times.end());
    std::printf("decode: %zu steps x %lld sequences in %.6f s, median step "
                "%.6f s (%.1f tokens/s)\n",
                times.size(), (long long)B, decode, times[times.size() / 2],
                B * times.size() / decode);
  }
  for (int64_t b = 0; b < B; ++b) {
    std::printf("generated[%lld]:", (long long)b);
    for (int64_t t : generated[b])
      std::printf(" %lld", (long long)t);
    std::printf("\n");
  }
  if (!o.outputs.empty()) {
    HostTensor ids = HostTensor::zeros(params::DType::I64,
                                       {B, static_cast<int64_t>(o.generate)});
    for (int64_t b = 0; b < B; ++b)
      for (int t = 0; t < o.generate; ++t)
        ids.data<int64_t>()[b * o.generate + t] = generated[b][t];
    if (!attenuate::exec::writeNpy(o.outputs[0], ids, error))
      return fail(error);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  std::string error;
  if (!parseArgs(argc, argv, o, error))
    return fail(error);
  if (o.listDevices) {
    // "cpu: available" / "cuda: unavailable (<why>)": lit's cuda-device
    // feature reads this.
    for (const char *dev : {"cpu", "cuda"}) {
      std::string why;
      auto be = std::string(dev) == "cpu" ? plan::createCpuBackend(why)
                                          : plan::createCudaBackend(why);
      if (be)
        std::printf("%s: available\n", dev);
      else
        std::printf("%s: unavailable (%s)\n", dev, why.c_str());
    }
    return 0;
  }

  // Inputs first: bad input is reported before parameters load.
  std::vector<HostTensor> inputs;
  if (!attenuate::exec::readInputFiles(o.inputs, inputs, error))
    return fail(error);

  plan::Plan pl;
  if (!plan::readPlanFile(o.planPath, pl, error))
    return fail(error);
  std::unique_ptr<plan::Backend> backend;
  if (o.device == "cuda") {
    backend = plan::createCudaBackend(error);
    if (!backend)
      return fail("--device=cuda: " + error);
  } else if (o.device == "cuda-check") {
    backend = plan::createCudaCheckBackend(error);
    if (!backend)
      return fail("--device=cuda-check: " + error);
  } else {
    backend = plan::createCpuBackend(error);
    if (!backend)
      return fail("--device=cpu: " + error);
  }
  if (o.threads > 0)
    backend->setNumThreads(o.threads);
  auto ex = plan::Executor::create(std::move(pl), std::move(backend),
                                   o.archives, error);
  if (!ex)
    return fail(error);

  if (o.generate)
    return generate(o, *ex);

  if (inputs.size() != ex->plan().inputs.size()) {
    std::string sig;
    for (const plan::Input &in : ex->plan().inputs)
      sig += (sig.empty() ? "" : ", ") + in.name;
    return fail("@" + ex->plan().entry + " takes " +
                std::to_string(ex->plan().inputs.size()) + " inputs (" + sig +
                "), got " + std::to_string(inputs.size()) + " from --input");
  }

  std::vector<HostTensor> outputs;
  std::vector<double> times;
  for (int r = 0; r < o.repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (!ex->run(inputs, outputs, error))
      return fail(error);
    times.push_back(seconds(t0));
  }
  if (o.repeat > 1) {
    std::sort(times.begin(), times.end());
    std::printf("time: median %.6f s over %zu calls\n", times[times.size() / 2],
                times.size());
  }

  if (!attenuate::exec::writeResultFiles(o.outputs, outputs, error))
    return fail(error);
  std::vector<std::string> lines;
  bool ok = true;
  if (!attenuate::exec::compareWithFiles(o.compare, outputs, o.atol, o.rtol,
                                         lines, ok, error))
    return fail(error);
  for (const std::string &l : lines)
    std::printf("%s\n", l.c_str());
  if (!ok)
    return fail("results differ from the reference beyond tolerance");
  return 0;
}
