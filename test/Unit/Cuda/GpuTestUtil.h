//===- GpuTestUtil.h - device buffers and the skip rule for GPU tests ----===//
//
// Every GPU test derives from GpuTest, which skips, saying why, when
// attn_cuda_available() is false (no driver, no device, a pre-Hopper
// device), and otherwise gives the test a context and a stream.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_TEST_UNIT_CUDA_GPUTESTUTIL_H
#define ATTENUATE_TEST_UNIT_CUDA_GPUTESTUTIL_H

#include "CudaTestUtil.h"

#include <cuda_runtime_api.h>

#include <map>

namespace attenuate::cuda::test {

/// Whether the tests can use a device, and if not, why (computed once).
inline const std::string &gpuUnavailableReason() {
  static const std::string reason = [] {
    if (attn_cuda_available())
      return std::string();
    return std::string(attn_cuda_last_error());
  }();
  return reason;
}

#define ATTN_EXPECT_CUDA(call)                                               \
  do {                                                                       \
    cudaError_t e_ = (call);                                                 \
    ASSERT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_);   \
  } while (0)

class GpuTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!gpuUnavailableReason().empty())
      GTEST_SKIP() << "no usable GPU: " << gpuUnavailableReason();
    ASSERT_EQ(attn_cuda_context_create(0, &ctx), ATTN_OK)
        << attn_cuda_last_error();
    ATTN_EXPECT_CUDA(cudaStreamCreate(&stream));
  }
  void TearDown() override {
    for (auto &[host, dev] : buffers)
      cudaFree(dev);
    buffers.clear();
    if (stream)
      cudaStreamDestroy(stream);
    if (ctx)
      attn_cuda_context_destroy(ctx);
  }

  /// The device copy of `t`'s whole storage (padding included), made on
  /// first use, refreshed from the host on every call.
  void *upload(LpTensor &t) {
    void *&dev = buffers[&t];
    const size_t bytes = t.storage().size() * sizeof(uint16_t);
    if (!dev)
      EXPECT_EQ(cudaMalloc(&dev, bytes), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(dev, t.storage().data(), bytes,
                         cudaMemcpyHostToDevice),
              cudaSuccess);
    return dev;
  }
  void download(LpTensor &t) {
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(t.storage().data(), buffers.at(&t),
                         t.storage().size() * sizeof(uint16_t),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
  /// A view given for t's host storage, moved to its device copy.
  attn_cuda_tensor onDevice(LpTensor &t, const attn_cuda_tensor &hostView) {
    attn_cuda_tensor d = hostView;
    const auto offset = static_cast<const uint16_t *>(hostView.data) -
                        t.storage().data();
    d.data = static_cast<uint16_t *>(buffers.at(&t)) + offset;
    return d;
  }
  /// A device copy of a host int64 array (freed with the test).
  const int64_t *upload(const std::vector<int64_t> &v) {
    if (v.empty())
      return nullptr;
    void *dev = nullptr;
    EXPECT_EQ(cudaMalloc(&dev, v.size() * sizeof(int64_t)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(dev, v.data(), v.size() * sizeof(int64_t),
                         cudaMemcpyHostToDevice),
              cudaSuccess);
    buffers[&v] = dev;
    return static_cast<const int64_t *>(dev);
  }

  attn_cuda_context *ctx = nullptr;
  cudaStream_t stream = nullptr;
  std::map<const void *, void *> buffers;
};

} // namespace attenuate::cuda::test

#endif // ATTENUATE_TEST_UNIT_CUDA_GPUTESTUTIL_H
