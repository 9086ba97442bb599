//===- Blas.cpp - weights as sgemm operands, OpenBLAS thread control ------===//
//
// Projections compute y = x·Wᵀ with W in Hugging Face [out, in] layout. A
// row-major W is sgemm's B with CblasTrans; a W that arrives transposed (a
// memref with strides [1, out], as a folded transpose produces) is B with
// CblasNoTrans. Only a W with no unit-stride dimension is copied.
//
//===----------------------------------------------------------------------===//

#include "Detail.h"

#include <algorithm>
#include <cblas.h>
#include <mutex>

// Declared here as well as in OpenBLAS' cblas.h: Debian's cblas.h is an
// alternative that may point at the reference CBLAS, which lacks them.
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace attenuate::runtime::detail {

WeightOperand::WeightOperand(const attn_view_f32 &w)
    : data(w.data), n(w.sizes[0]), k(w.sizes[1]), ld(1), transpose(true) {
  int64_t s0 = w.strides[0], s1 = w.strides[1];
  if ((s1 == 1 || k <= 1) &&
      (n <= 1 || (s0 >= std::max<int64_t>(k, 1) && s0 <= kBlasMaxDim))) {
    ld = static_cast<int>(n <= 1 ? std::max<int64_t>(k, 1) : s0);
    return;
  }
  if ((s0 == 1 || n <= 1) &&
      (k <= 1 || (s1 >= std::max<int64_t>(n, 1) && s1 <= kBlasMaxDim))) {
    transpose = false;
    ld = static_cast<int>(k <= 1 ? std::max<int64_t>(n, 1) : s1);
    return;
  }
  packed.resize(n * k);
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i)
      packed[o * k + i] = w.data[o * s0 + i * s1];
  data = packed.data();
  ld = static_cast<int>(std::max<int64_t>(k, 1));
}

void WeightOperand::multiply(int64_t m, const float *a, int lda, float beta,
                             float *c, int ldc) const {
  cblas_sgemm(CblasRowMajor, CblasNoTrans,
              transpose ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, lda, data, ld,
              beta, c, ldc);
}

namespace {
std::mutex blasThreadsMutex;
int serialScopes = 0;
int savedBlasThreads = 1;
} // namespace

BlasSerialScope::BlasSerialScope() {
  std::lock_guard<std::mutex> lock(blasThreadsMutex);
  if (serialScopes++ == 0) {
    savedBlasThreads = openblas_get_num_threads();
    if (savedBlasThreads != 1)
      openblas_set_num_threads(1);
  }
}

BlasSerialScope::~BlasSerialScope() {
  std::lock_guard<std::mutex> lock(blasThreadsMutex);
  if (--serialScopes == 0 && savedBlasThreads != 1)
    openblas_set_num_threads(savedBlasThreads);
}

} // namespace attenuate::runtime::detail
