//===- Executor.h - run an attn-plan on the CPU or CUDA kernels -*- C++ -*-===//
//
// Loads a plan's parameters once (from its safetensors archives), then runs
// it on host inputs: scalars and shapes are evaluated from the inputs, the
// slots are allocated at the largest size their buffers need (and kept
// between runs), and the steps call the runtime's kernels. No MLIR or LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PLAN_EXECUTOR_H
#define ATTENUATE_PLAN_EXECUTOR_H

#include "attenuate/Execution/HostTensor.h"
#include "attenuate/Plan/Plan.h"

#include <memory>
#include <string>
#include <vector>

namespace attenuate::plan {

enum class Device { Cpu, Cuda };

/// A strided view of backend memory (host or device), strides in elements.
struct View {
  char *data = nullptr;
  params::DType dtype = params::DType::F32;
  std::vector<int64_t> sizes, strides;
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t s : sizes)
      n *= s;
    return n;
  }
  bool isContiguous() const;
};

/// Where the kernels run. A backend owns the memory it hands out.
class Backend {
public:
  virtual ~Backend();
  virtual const char *name() const = 0;
  /// The dtype of the plan's F32 values on this backend (F32 on the CPU;
  /// BF16 on CUDA, whose kernels take bf16/fp16).
  virtual params::DType activationType() const = 0;
  /// Host threads for the kernels (the CPU backend; 0: all cores).
  virtual void setNumThreads(int) {}
  /// Copies a parameter (F32 host data) into backend memory.
  virtual bool uploadParam(const std::vector<float> &data, char *&out,
                           std::string &error) = 0;
  /// Copies an input (converting F32 to activationType()); the memory
  /// stays valid until the next upload of the same index.
  virtual bool uploadInput(size_t index, const exec::HostTensor &t,
                           char *&out, std::string &error) = 0;
  /// Makes slot `i` hold at least bytes[i] bytes (contents need not be kept).
  virtual bool reserveSlots(const std::vector<uint64_t> &bytes,
                            std::vector<char *> &slots,
                            std::string &error) = 0;
  /// Copies a view out (F32 for activations, the dtype otherwise); waits
  /// for the queued work.
  virtual bool download(const View &v, params::DType planType,
                        exec::HostTensor &out, std::string &error) = 0;

  // Kernels; each checks what the runtime's entry points do not.
  virtual bool embed(const View &table, const View &tokens, const View &y,
                     std::string &error) = 0;
  virtual bool rmsNorm(const View &x, const View &w, double eps,
                       const View &y, std::string &error) = 0;
  virtual bool linear(const View &x, const View &w, const View *b,
                      const View &y, std::string &error) = 0;
  virtual bool mlp(const View &x, const View &gate, const View &up,
                   const View &down, const View &y, std::string &error) = 0;
  virtual bool rope(const View &x, const View &positions, const Step &step,
                    const View &y, std::string &error) = 0;
  virtual bool attention(const View &q, const View &k, const View &v,
                         double scale, bool causal, const View &o,
                         std::string &error) = 0;
  /// cache[:, pos : pos + n] = update (in place).
  virtual bool cacheUpdate(const View &cache, const View &update,
                           int64_t pos, std::string &error) = 0;
  virtual bool copy(const View &x, const View &y, std::string &error) = 0;
  virtual bool add(const View &a, const View &b, const View &y,
                   std::string &error) = 0;
};

/// nullptr with `error` set when this build has no CPU runtime.
std::unique_ptr<Backend> createCpuBackend(std::string &error);
/// nullptr with `error` set when this build has no CUDA or no device is
/// usable (the driver's message).
std::unique_ptr<Backend> createCudaBackend(std::string &error);
/// The CUDA backend without a device, for machines with none: memory is
/// host memory, and each libattn_runtime_cuda entry stops after checking
/// its arguments (its null-context error counts as acceptance), so a plan's
/// views are checked against the CUDA kernels' rules (dtypes, shapes,
/// 16-byte alignment, strides) on the CPU machine. Results are zeros.
/// nullptr with `error` set where this build has no CUDA backend.
std::unique_ptr<Backend> createCudaCheckBackend(std::string &error);
/// True when this build carries the CUDA backend.
bool cudaBackendBuilt();

class Executor {
public:
  /// Opens `archives` (or the plan's when empty) and uploads every
  /// parameter the plan names, checking its shape.
  static std::unique_ptr<Executor> create(Plan plan,
                                          std::unique_ptr<Backend> backend,
                                          const std::vector<std::string> &archives,
                                          std::string &error);
  /// One call of the entry: inputs in order, outputs in order (F32 for
  /// activations). Errors name the step and its source location.
  bool run(const std::vector<exec::HostTensor> &inputs,
           std::vector<exec::HostTensor> &outputs, std::string &error) {
    return run(inputs, outputs, {}, {}, error);
  }
  /// As above; inputs with keepInput[i] are not uploaded again: the backend
  /// memory of the previous run is used as it is (a KV cache the previous
  /// step updated in place; the host tensor then only gives the shape), and
  /// outputs with skipOutput[i] are not copied out (left empty).
  bool run(const std::vector<exec::HostTensor> &inputs,
           std::vector<exec::HostTensor> &outputs,
           const std::vector<bool> &keepInput,
           const std::vector<bool> &skipOutput, std::string &error);
  /// The input whose storage output `i` is a view of (a cache updated in
  /// place), or -1.
  int64_t outputAliasesInput(size_t i) const;
  const Plan &plan() const { return plan_; }
  Backend &backend() { return *backend_; }
  /// Bytes of the slots (buffers after reuse) in the last run, and what the
  /// buffers would take without reuse.
  uint64_t slotBytes() const { return slotBytes_; }
  uint64_t bufferBytes() const { return bufferBytes_; }

private:
  Executor(Plan plan, std::unique_ptr<Backend> backend)
      : plan_(std::move(plan)), backend_(std::move(backend)) {}
  Plan plan_;
  std::unique_ptr<Backend> backend_;
  std::vector<char *> params_; // per value (Param values only)
  std::vector<std::vector<int64_t>> paramShapes_;
  std::vector<char *> inputPtr_; // backend memory of each input, last run
  uint64_t slotBytes_ = 0, bufferBytes_ = 0;
};

} // namespace attenuate::plan

#endif // ATTENUATE_PLAN_EXECUTOR_H
