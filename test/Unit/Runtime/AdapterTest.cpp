//===- AdapterTest.cpp - memref descriptors and the _mlir_ciface_ layer ---===//
//
// Descriptors are built by hand in MLIR's StridedMemRefType layout, with a
// bogus allocated pointer and a non-zero offset, so that a runtime reading
// the wrong field fails here rather than in JIT-compiled code.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

#include <thread>

using namespace attenuate::runtime::test;

namespace {

/// Adapter errors are process-wide; start and end every test without one.
class Adapters : public ::testing::Test {
protected:
  void SetUp() override { drainErrors(); }
  void TearDown() override { EXPECT_EQ(attn_rt_take_error(), nullptr); }
  static void drainErrors() {
    while (attn_rt_take_error()) {
    }
  }
  static std::string takeError() {
    const char *e = attn_rt_take_error();
    return e ? e : "<none>";
  }
};

TEST_F(Adapters, ViewFromMemrefReadsAlignedPlusOffset) {
  Tensor t({3, 4, 5}, strided({2, 0, 1}));
  Descriptor<3> d = describe<3>(t);
  attn_unranked_memref m = unranked(d);
  attn_view_f32 v;
  ASSERT_EQ(attn_view_from_memref(&m, &v), ATTN_OK) << attn_last_error();
  EXPECT_EQ(v.data, t.data());
  EXPECT_EQ(v.rank, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(v.sizes[i], t.sizes()[i]);
    EXPECT_EQ(v.strides[i], t.strides()[i]);
  }
}

TEST_F(Adapters, ViewFromMemrefRankZeroAndErrors) {
  float scalar = 3.0f;
  struct {
    float *allocated, *aligned;
    int64_t offset;
  } d0{&scalar, &scalar, 0};
  attn_unranked_memref m0{0, &d0};
  attn_view_f32 v;
  ASSERT_EQ(attn_view_from_memref(&m0, &v), ATTN_OK);
  EXPECT_EQ(v.rank, 0);
  EXPECT_EQ(v.data, &scalar);

  EXPECT_EQ(attn_view_from_memref(nullptr, &v), ATTN_ERR_NULL);
  EXPECT_NE(std::string(attn_last_error()).find("null memref"),
            std::string::npos);
  attn_unranked_memref noDescriptor{2, nullptr};
  EXPECT_EQ(attn_view_from_memref(&noDescriptor, &v), ATTN_ERR_NULL);
  EXPECT_EQ(attn_view_from_memref(&m0, nullptr), ATTN_ERR_NULL);
  Descriptor<8> d8{};
  attn_unranked_memref tooDeep{9, &d8};
  EXPECT_EQ(attn_view_from_memref(&tooDeep, &v), ATTN_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(attn_last_error()).find("rank 9"), std::string::npos);
  attn_unranked_memref negative{-1, &d8};
  EXPECT_EQ(attn_view_from_memref(&negative, &v), ATTN_ERR_UNSUPPORTED);
}

TEST_F(Adapters, LinearMatchesKernel) {
  std::mt19937 rng(21);
  Tensor x({2, 17, 24}, strided({1, 0, 2})), w({10, 24}, strided({1, 0})),
      b({10}), y({2, 17, 10}, strided({})), yKernel({2, 17, 10});
  x.fillUniform(rng);
  w.fillUniform(rng);
  b.fillUniform(rng);
  for (bool withBias : {false, true}) {
    auto dx = describe<3>(x);
    auto dw = describe<2>(w);
    auto db = describe<1>(b);
    auto dy = describe<3>(y);
    attn_unranked_memref mx = unranked(dx), mw = unranked(dw),
                         mb = unranked(db), my = unranked(dy);
    if (withBias)
      _mlir_ciface_attn_rt_linear_bias_f32(&mx, &mw, &mb, &my);
    else
      _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
    attn_view_f32 xv = x.view(), wv = w.view(), bv = b.view(),
                  yv = yKernel.view();
    ASSERT_EQ(attn_linear_f32(&xv, &wv, withBias ? &bv : nullptr, &yv),
              ATTN_OK);
    EXPECT_TRUE(bitwiseEqual(y.values(), yKernel.values()));
    EXPECT_TRUE(y.paddingIntact());
  }
}

TEST_F(Adapters, MlpMatchesKernel) {
  std::mt19937 rng(22);
  Tensor x({3, 5, 16}, strided({})), gate({24, 16}), up({24, 16}),
      down({16, 24}, strided({1, 0})), y({3, 5, 16}), yKernel({3, 5, 16});
  for (Tensor *t : {&x, &gate, &up, &down})
    t->fillUniform(rng);
  auto dx = describe<3>(x);
  auto dg = describe<2>(gate);
  auto du = describe<2>(up);
  auto dd = describe<2>(down);
  auto dy = describe<3>(y);
  attn_unranked_memref mx = unranked(dx), mg = unranked(dg), mu = unranked(du),
                       md = unranked(dd), my = unranked(dy);
  _mlir_ciface_attn_rt_mlp_f32(&mx, &mg, &mu, &md, &my);
  attn_view_f32 xv = x.view(), gv = gate.view(), uv = up.view(),
                dv = down.view(), yv = yKernel.view();
  ASSERT_EQ(attn_mlp_f32(&xv, &gv, &uv, &dv, &yv), ATTN_OK);
  EXPECT_TRUE(bitwiseEqual(y.values(), yKernel.values()));
}

TEST_F(Adapters, AttentionMatchesKernel) {
  std::mt19937 rng(23);
  Tensor q({1, 9, 6, 16}, strided({0, 2, 1, 3})),
      k({1, 40, 2, 16}, strided({}, 11)), v({1, 40, 2, 8}, strided({}, 11)),
      o({1, 9, 6, 8}), oKernel({1, 9, 6, 8});
  for (Tensor *t : {&q, &k, &v})
    t->fillUniform(rng);
  for (int64_t causal : {0, 1}) {
    auto dq = describe<4>(q);
    auto dk = describe<4>(k);
    auto dv = describe<4>(v);
    auto d_o = describe<4>(o);
    attn_unranked_memref mq = unranked(dq), mk = unranked(dk),
                         mv = unranked(dv), mo = unranked(d_o);
    _mlir_ciface_attn_rt_attention_f32(&mq, &mk, &mv, 0.25, causal, &mo);
    attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(),
                  ov = oKernel.view();
    ASSERT_EQ(attn_attention_f32(&qv, &kv, &vv, 0.25, causal, &ov), ATTN_OK);
    EXPECT_TRUE(bitwiseEqual(o.values(), oKernel.values())) << causal;
  }
}

TEST_F(Adapters, ShapeErrorZeroesOutputAndIsTakenOnce) {
  Tensor x({4, 8}), w({6, 7}), y({4, 6});
  x.fill(1.0f);
  w.fill(1.0f);
  y.fill(7.0f);
  auto dx = describe<2>(x);
  auto dw = describe<2>(w);
  auto dy = describe<2>(y);
  attn_unranked_memref mx = unranked(dx), mw = unranked(dw), my = unranked(dy);
  _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
  for (float value : y.values())
    EXPECT_EQ(value, 0.0f);
  std::string msg = takeError();
  for (const char *needle :
       {"attn_rt_linear_f32", "attn_linear_f32", "x [4, 8]", "[6, 7]"})
    EXPECT_NE(msg.find(needle), std::string::npos)
        << "'" << needle << "' not in: " << msg;
  EXPECT_EQ(attn_rt_take_error(), nullptr);
}

TEST_F(Adapters, NullOperandIsReportedByName) {
  Tensor q({1, 2, 2, 4}), o({1, 2, 2, 4}, strided({}));
  q.fill(1.0f);
  o.fill(7.0f);
  auto dq = describe<4>(q);
  auto d_o = describe<4>(o);
  attn_unranked_memref mq = unranked(dq), mo = unranked(d_o);
  _mlir_ciface_attn_rt_attention_f32(&mq, nullptr, &mq, 1.0, 0, &mo);
  for (float value : o.values())
    EXPECT_EQ(value, 0.0f);
  EXPECT_TRUE(o.paddingIntact());
  std::string msg = takeError();
  EXPECT_NE(msg.find("attn_rt_attention_f32: k is a null memref"),
            std::string::npos)
      << msg;
}

TEST_F(Adapters, BadOutputIsReportedWithoutWriting) {
  Tensor x({4, 8}), w({6, 8});
  auto dx = describe<2>(x);
  auto dw = describe<2>(w);
  attn_unranked_memref mx = unranked(dx), mw = unranked(dw), my{2, nullptr};
  _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
  std::string msg = takeError();
  EXPECT_NE(msg.find("y has a null descriptor"), std::string::npos) << msg;
  _mlir_ciface_attn_rt_mlp_f32(&mx, &mw, &mw, &mw, nullptr);
  EXPECT_NE(takeError().find("attn_rt_mlp_f32: y is a null memref"),
            std::string::npos);
}

TEST_F(Adapters, FirstErrorWins) {
  Tensor x({4, 8}), w({6, 7}), y({4, 6});
  auto dx = describe<2>(x);
  auto dw = describe<2>(w);
  auto dy = describe<2>(y);
  attn_unranked_memref mx = unranked(dx), mw = unranked(dw), my = unranked(dy);
  _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
  _mlir_ciface_attn_rt_mlp_f32(&mx, &mw, &mw, &mw, &my);
  std::string msg = takeError();
  EXPECT_NE(msg.find("attn_rt_linear_f32"), std::string::npos) << msg;
  EXPECT_EQ(attn_rt_take_error(), nullptr);
}

TEST_F(Adapters, ErrorsAreProcessWide) {
  // JIT code may run on a worker thread; the host checks on its own.
  std::thread worker([] {
    Tensor x({4, 8}), w({6, 7}), y({4, 6});
    auto dx = describe<2>(x);
    auto dw = describe<2>(w);
    auto dy = describe<2>(y);
    attn_unranked_memref mx = unranked(dx), mw = unranked(dw),
                         my = unranked(dy);
    _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
  });
  worker.join();
  EXPECT_NE(takeError().find("attn_rt_linear_f32"), std::string::npos);
}

TEST_F(Adapters, SuccessRecordsNothing) {
  Tensor x({2, 4}), w({3, 4}), y({2, 3});
  x.fill(1.0f);
  w.fill(2.0f);
  auto dx = describe<2>(x);
  auto dw = describe<2>(w);
  auto dy = describe<2>(y);
  attn_unranked_memref mx = unranked(dx), mw = unranked(dw), my = unranked(dy);
  _mlir_ciface_attn_rt_linear_f32(&mx, &mw, &my);
  EXPECT_EQ(attn_rt_take_error(), nullptr);
  for (float value : y.values())
    EXPECT_EQ(value, 8.0f);
}

} // namespace
