//===- PlanTest.cpp - attn-plan reader checks and the executor ------------===//
//
// The reader rejects every malformed plan with a message naming the part;
// toJson/fromJson round-trip. The executor, on a small block (embed,
// rms_norm, linear, cache update, slice, add) against plain loops here, on
// the CPU backend; the CUDA backend against the CPU one at bf16 tolerance,
// skipped (saying why) where this build has no CUDA backend or no GPU.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"
#include "attenuate/Plan/Executor.h"
#include "attenuate/Plan/Plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <unistd.h>

using namespace attenuate;
using namespace attenuate::plan;
using exec::HostTensor;
using params::DType;

namespace {

/// tokens [B,S] i64, positions [B,S] i64 (position from [0,0]), cache
/// [B,C,4] f32 -> (y = h + linear(rms_norm(h)) + 0 ... as steps below,
/// cache') with h = embed(tokens).
///   s0,s1 = dims of tokens; s2,s3 of positions; s4,s5 of cache;
///   s6 = positions[0,0]; s7 = s6 + s1.
Plan blockPlan(const std::string &archive) {
  Plan p;
  p.entry = "forward";
  p.archives = {archive};
  auto dim = [&](int64_t in, int64_t axis) {
    Scalar s;
    s.kind = Scalar::Kind::Dim;
    s.input = in;
    s.axis = axis;
    p.scalars.push_back(s);
    return Dim::scalar(p.scalars.size() - 1);
  };
  Dim b = dim(0, 0), s = dim(0, 1), pb = dim(1, 0), ps = dim(1, 1),
      cb = dim(2, 0), cc = dim(2, 1);
  Scalar ex;
  ex.kind = Scalar::Kind::Extract;
  ex.input = 1;
  ex.index = {Dim::constant(0), Dim::constant(0)};
  p.scalars.push_back(ex);
  Dim pos = Dim::scalar(6);
  Scalar add;
  add.kind = Scalar::Kind::Add;
  add.lhs = pos;
  add.rhs = s;
  p.scalars.push_back(add);
  Dim end = Dim::scalar(7);
  p.inputs = {{"tokens", DType::I64, {b, s}},
              {"positions", DType::I64, {pb, ps}},
              {"cache", DType::F32, {cb, cc, Dim::constant(4)}}};
  auto value = [&](Value v) {
    p.values.push_back(v);
    return static_cast<int64_t>(p.values.size()) - 1;
  };
  auto input = [&](int64_t i, DType t, std::vector<Dim> shape) {
    Value v;
    v.kind = Value::Kind::Input;
    v.source = i;
    v.dtype = t;
    v.shape = shape;
    return value(v);
  };
  auto param = [&](const char *name, std::vector<Dim> shape) {
    Value v;
    v.kind = Value::Kind::Param;
    v.name = name;
    v.shape = shape;
    return value(v);
  };
  auto buffer = [&](int64_t slot, std::vector<Dim> shape) {
    Value v;
    v.kind = Value::Kind::Buffer;
    v.source = slot;
    v.shape = shape;
    return value(v);
  };
  auto step = [&](const char *op, std::vector<int64_t> in, int64_t out) {
    Step st;
    st.op = op;
    st.in = in;
    st.out = out;
    st.loc = op;
    p.steps.push_back(st);
    return &p.steps.back();
  };
  Dim c4 = Dim::constant(4), c8 = Dim::constant(8);
  int64_t tok = input(0, DType::I64, {b, s});
  input(1, DType::I64, {pb, ps});
  int64_t cache = input(2, DType::F32, {cb, cc, c4});
  int64_t table = param("table", {Dim::constant(16), c8});
  int64_t norm = param("norm", {c8});
  int64_t w = param("w", {c4, c8});
  int64_t h = buffer(0, {b, s, c8});
  step("embed", {table, tok}, h);
  int64_t n = buffer(1, {b, s, c8});
  step("rms_norm", {h, norm}, n)->epsilon = 1e-5;
  int64_t k = buffer(2, {b, s, c4});
  step("linear", {n, w}, k);
  Value alias;
  alias.kind = Value::Kind::Alias;
  alias.source = cache;
  alias.shape = {cb, cc, c4};
  int64_t cache2 = value(alias);
  step("cache_update", {cache, k}, cache2)->position = pos;
  Value slice;
  slice.kind = Value::Kind::Slice;
  slice.source = cache2;
  slice.shape = {b, end, c4};
  slice.offsets = {Dim::constant(0), Dim::constant(0), Dim::constant(0)};
  int64_t sl = value(slice);
  // y = k + k (a second read of the buffer), into the norm's slot (dead).
  int64_t y = buffer(1, {b, s, c4});
  step("add", {k, k}, y);
  int64_t copy = buffer(0, {b, end, c4});
  step("copy", {sl}, copy);
  p.numSlots = 3;
  p.outputs = {y, cache2, copy};
  return p;
}

struct Weights {
  std::vector<float> table, norm, w;
};

std::string writeWeights(Weights &wt) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  wt.table.resize(16 * 8);
  wt.norm.resize(8);
  wt.w.resize(4 * 8);
  for (auto *v : {&wt.table, &wt.norm, &wt.w})
    for (float &x : *v)
      x = nd(rng);
  char tmpl[] = "/tmp/attn-plan-test-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  std::string path = std::string(tmpl) + ".safetensors";
  std::rename(tmpl, path.c_str());
  std::string error;
  EXPECT_TRUE(params::SafetensorsWriter::writeFile(
      path,
      {{"table", DType::F32, {16, 8}, wt.table.data()},
       {"norm", DType::F32, {8}, wt.norm.data()},
       {"w", DType::F32, {4, 8}, wt.w.data()}},
      {}, error))
      << error;
  return path;
}

HostTensor i64(std::vector<int64_t> shape, std::vector<int64_t> data) {
  HostTensor t = HostTensor::zeros(DType::I64, shape);
  for (size_t i = 0; i < data.size(); ++i)
    t.data<int64_t>()[i] = data[i];
  return t;
}

//===----------------------------------------------------------------------===//
// Format
//===----------------------------------------------------------------------===//

TEST(PlanFormat, RoundTrips) {
  Plan p = blockPlan("/x/w.safetensors");
  std::string error;
  ASSERT_TRUE(validate(p, error)) << error;
  std::string text = toJson(p);
  Plan q;
  ASSERT_TRUE(fromJson(text, q, error)) << error;
  EXPECT_EQ(toJson(q), text);
}

/// Replaces the first `from` in the plan's JSON and expects `fromJson` to
/// fail with a message containing `want`.
void expectRejected(const std::string &from, const std::string &to,
                    const std::string &want) {
  std::string text = toJson(blockPlan("/x/w.safetensors"));
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  Plan q;
  std::string error;
  EXPECT_FALSE(fromJson(text, q, error)) << "accepted: " << from << " -> "
                                         << to;
  EXPECT_NE(error.find(want), std::string::npos) << error;
}

TEST(PlanFormat, RejectsMalformed) {
  expectRejected("\"version\": 1", "\"version\": 2", "version 2 is not supported");
  expectRejected("\"format\": \"attn-plan\"", "\"format\": \"x\"", "\"format\"");
  expectRejected("\"op\": \"embed\"", "\"op\": \"gather\"",
                 "step 0 (gather): unknown op");
  expectRejected("\"in\": [3, 0]", "\"in\": [3]", "takes 2 operands, got 1");
  expectRejected("\"in\": [3, 0]", "\"in\": [3, 99]", "operand out of range");
  expectRejected("\"slot\": 2", "\"slot\": 3", "slot out of range");
  expectRejected("\"slots\": 3", "\"slots\": 4000000000000",
                 "4000000000000 slots for 13 values");
  expectRejected("\"outputs\": [", "\"outputs\": [42, ", "outputs");
  expectRejected("\"lhs\": \"s6\"", "\"lhs\": \"s9\"",
                 "later or missing scalar");
  expectRejected("\"lhs\": \"s6\"", "\"lhs\": \"6x\"",
                 "bad scalar reference");
  expectRejected("\"kind\": \"alias\", \"source\": 2",
                 "\"kind\": \"alias\", \"source\": 12",
                 "source must be an earlier value");
  expectRejected("\"dtype\": \"F32\", \"shape\": [16, 8]",
                 "\"dtype\": \"F99\", \"shape\": [16, 8]", "unknown dtype");
  expectRejected("\"dtype\": \"F32\", \"shape\": [16, 8]",
                 "\"dtype\": \"BF16\", \"shape\": [16, 8]",
                 "parameters are F32 values");
  expectRejected("\"epsilon\": ", "\"epsilonx\": ", "missing \"epsilon\"");
  expectRejected("{\n  \"format\"", "[{\n  \"format\"", "");
  expectRejected("\"axis\": 0", "\"axis\": 7", "axis out of range");
}

TEST(PlanFormat, RelativeArchivesFollowThePlan) {
  Plan p = blockPlan("w.safetensors");
  std::string path = "/tmp/attn-plan-test-rel.plan";
  FILE *f = std::fopen(path.c_str(), "w");
  ASSERT_TRUE(f);
  std::string text = toJson(p);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  Plan q;
  std::string error;
  ASSERT_TRUE(readPlanFile(path, q, error)) << error;
  EXPECT_EQ(q.archives, std::vector<std::string>{"/tmp/w.safetensors"});
  std::remove(path.c_str());
}

//===----------------------------------------------------------------------===//
// Executor
//===----------------------------------------------------------------------===//

class PlanExecutor : public ::testing::Test {
protected:
  void SetUp() override { archive = writeWeights(wt); }
  void TearDown() override { std::remove(archive.c_str()); }

  std::unique_ptr<Executor> make(std::unique_ptr<Backend> be) {
    std::string error;
    auto ex = Executor::create(blockPlan(archive), std::move(be), {}, error);
    EXPECT_TRUE(ex) << error;
    return ex;
  }
  /// B=2, S=3 tokens at position 1 into a cache of capacity 5.
  std::vector<HostTensor> inputs() {
    std::vector<HostTensor> in;
    in.push_back(i64({2, 3}, {1, 5, 15, 0, 3, 99}));
    in.push_back(i64({2, 3}, {1, 2, 3, 1, 2, 3}));
    HostTensor c = HostTensor::zeros(DType::F32, {2, 5, 4});
    for (int i = 0; i < 40; ++i)
      c.data<float>()[i] = 0.25f * i;
    in.push_back(c);
    return in;
  }
  std::string archive;
  Weights wt;
};

TEST_F(PlanExecutor, CpuMatchesLoops) {
  std::string error;
  auto cpu = createCpuBackend(error);
  if (!cpu)
    GTEST_SKIP() << error;
  auto ex = make(std::move(cpu));
  ASSERT_TRUE(ex);
  std::vector<HostTensor> in = inputs(), out;
  ASSERT_TRUE(ex->run(in, out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  // Reference: plain loops, in double.
  std::vector<double> k(2 * 3 * 4);
  for (int r = 0; r < 6; ++r) {
    int64_t id = std::min<int64_t>(std::max<int64_t>(in[0].data<int64_t>()[r], 0), 15);
    double ss = 0;
    for (int c = 0; c < 8; ++c)
      ss += double(wt.table[id * 8 + c]) * wt.table[id * 8 + c];
    double inv = 1 / std::sqrt(ss / 8 + 1e-5);
    for (int o = 0; o < 4; ++o) {
      double acc = 0;
      for (int c = 0; c < 8; ++c)
        acc += wt.table[id * 8 + c] * inv * wt.norm[c] * wt.w[o * 8 + c];
      k[r * 4 + o] = acc;
    }
  }
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 3, 4}));
  for (int i = 0; i < 24; ++i)
    EXPECT_NEAR(out[0].data<float>()[i], 2 * k[i], 1e-4) << i;
  // The cache: rows 1..3 of each batch replaced, the rest kept.
  ASSERT_EQ(out[1].shape, (std::vector<int64_t>{2, 5, 4}));
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 5; ++t)
      for (int c = 0; c < 4; ++c) {
        int i = (b * 5 + t) * 4 + c;
        double want = (t >= 1 && t <= 3) ? k[(b * 3 + t - 1) * 4 + c]
                                         : 0.25 * i;
        EXPECT_NEAR(out[1].data<float>()[i], want, 1e-5) << b << " " << t;
      }
  // The slice [:, 0:4] of the updated cache, copied out.
  ASSERT_EQ(out[2].shape, (std::vector<int64_t>{2, 4, 4}));
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 4; ++t)
      for (int c = 0; c < 4; ++c)
        EXPECT_EQ(out[2].data<float>()[(b * 4 + t) * 4 + c],
                  out[1].data<float>()[(b * 5 + t) * 4 + c]);
  // Four buffers in three slots.
  EXPECT_LT(ex->slotBytes(), ex->bufferBytes());
}

TEST_F(PlanExecutor, CpuErrors) {
  std::string error;
  auto cpu = createCpuBackend(error);
  if (!cpu)
    GTEST_SKIP() << error;
  auto ex = make(std::move(cpu));
  ASSERT_TRUE(ex);
  std::vector<HostTensor> in = inputs(), out;
  in.pop_back();
  EXPECT_FALSE(ex->run(in, out, error));
  EXPECT_NE(error.find("takes 3 inputs, got 2"), std::string::npos) << error;

  in = inputs();
  in[1] = i64({2, 3}, {3, 4, 5, 3, 4, 5}); // 3 + 3 > capacity 5
  EXPECT_FALSE(ex->run(in, out, error));
  EXPECT_NE(error.find("outside the source's size 5"), std::string::npos)
      << error;

  in = inputs();
  in[1] = i64({2, 3}, {-1, 0, 1, -1, 0, 1});
  EXPECT_FALSE(ex->run(in, out, error));
  EXPECT_NE(error.find("(cache_update at \"cache_update\"): cache write of 3 "
                       "tokens at position -1"),
            std::string::npos)
      << error;

  in = inputs();
  in[2] = HostTensor::zeros(DType::F32, {2, 5, 3});
  EXPECT_FALSE(ex->run(in, out, error));
  EXPECT_NE(error.find("input 2 (cache) is F32[2, 5, 3]: dim 2 must be 4"),
            std::string::npos)
      << error;

  // A parameter the archive does not have, and one of another shape.
  Plan p = blockPlan(archive);
  p.values[3].name = "nope";
  EXPECT_FALSE(Executor::create(p, createCpuBackend(error), {}, error));
  EXPECT_NE(error.find("parameter \"nope\" is in none of the archives"),
            std::string::npos)
      << error;
  p = blockPlan(archive);
  p.values[5].shape = {Dim::constant(8), Dim::constant(4)};
  EXPECT_FALSE(Executor::create(p, createCpuBackend(error), {}, error));
  EXPECT_NE(error.find("parameter \"w\" is [4, 8]"), std::string::npos)
      << error;
}

TEST_F(PlanExecutor, CudaMatchesCpu) {
  std::string error;
  auto cuda = createCudaBackend(error);
  if (!cuda)
    GTEST_SKIP() << "no CUDA backend: " << error;
  auto cpu = createCpuBackend(error);
  if (!cpu)
    GTEST_SKIP() << error;
  auto exCuda = make(std::move(cuda)), exCpu = make(std::move(cpu));
  ASSERT_TRUE(exCuda && exCpu);
  std::vector<HostTensor> in = inputs(), a, b;
  ASSERT_TRUE(exCuda->run(in, a, error)) << error;
  ASSERT_TRUE(exCpu->run(in, b, error)) << error;
  ASSERT_EQ(a.size(), b.size());
  for (size_t o = 0; o < a.size(); ++o) {
    ASSERT_EQ(a[o].shape, b[o].shape);
    double maxRef = 0, maxErr = 0;
    for (uint64_t i = 0; i < a[o].numElements(); ++i) {
      maxRef = std::max(maxRef, std::fabs(double(b[o].data<float>()[i])));
      maxErr = std::max(maxErr, std::fabs(double(a[o].data<float>()[i]) -
                                          b[o].data<float>()[i]));
    }
    // bf16 weights and activations: a few rounding steps of 2^-8.
    EXPECT_LE(maxErr, 3e-2 * maxRef) << "output " << o;
  }
}

//===----------------------------------------------------------------------===//
// The CUDA kernels' argument rules, without a device
//===----------------------------------------------------------------------===//

/// Inputs for an imported decoder's plan: tokens [B,S], positions P.., and
/// zero caches [B,C,...] shaped from the plan's input table.
std::vector<HostTensor> decoderInputs(const Plan &p, int64_t B, int64_t S,
                                      int64_t P, int64_t C) {
  std::vector<HostTensor> in;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    if (i < 2) {
      HostTensor t = HostTensor::zeros(DType::I64, {B, S});
      for (int64_t k = 0; k < B * S; ++k)
        t.data<int64_t>()[k] = i == 0 ? k % 200 : P + k % S;
      in.push_back(t);
      continue;
    }
    std::vector<int64_t> shape = {B, C};
    for (size_t k = 2; k < p.inputs[i].shape.size(); ++k)
      shape.push_back(p.inputs[i].shape[k].value);
    in.push_back(HostTensor::zeros(DType::F32, shape));
  }
  return in;
}

TEST(PlanCudaCheck, BlockArgumentsAccepted) {
  std::string error;
  auto be = createCudaCheckBackend(error);
  if (!be)
    GTEST_SKIP() << error;
  Weights wt;
  std::string archive = writeWeights(wt);
  auto ex = Executor::create(blockPlan(archive), std::move(be), {}, error);
  std::remove(archive.c_str());
  ASSERT_TRUE(ex) << error;
  std::vector<HostTensor> in, out;
  in.push_back(i64({2, 3}, {1, 5, 15, 0, 3, 9}));
  in.push_back(i64({2, 3}, {1, 2, 3, 1, 2, 3}));
  in.push_back(HostTensor::zeros(DType::F32, {2, 5, 4}));
  EXPECT_TRUE(ex->run(in, out, error)) << error;
}

/// bench/gpu/bytellama.plan, the plan the GPU machine runs: every CUDA
/// kernel call of a prefill and of a decode step accepts its arguments
/// (bf16 dtypes, shapes, 16-byte alignment, strides), and the CPU backend
/// runs the same inputs.
TEST(PlanCudaCheck, ShippedBytellamaPlan) {
  Plan p;
  std::string error;
  ASSERT_TRUE(readPlanFile(ATTN_SOURCE_DIR "/bench/gpu/bytellama.plan", p,
                           error))
      << error;
  for (auto [S, P] : {std::pair<int64_t, int64_t>{7, 0}, {1, 9}}) {
    std::vector<HostTensor> in = decoderInputs(p, 2, S, P, 16), out;
    if (auto cpu = createCpuBackend(error)) {
      auto ex = Executor::create(p, std::move(cpu), {}, error);
      ASSERT_TRUE(ex) << error;
      ASSERT_TRUE(ex->run(in, out, error)) << error;
      EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, S, 256}));
    }
    auto be = createCudaCheckBackend(error);
    if (!be)
      GTEST_SKIP() << error;
    auto ex = Executor::create(p, std::move(be), {}, error);
    ASSERT_TRUE(ex) << error;
    EXPECT_TRUE(ex->run(in, out, error)) << "S=" << S << ": " << error;
  }
}

} // namespace
