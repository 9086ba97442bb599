//===- AttentionTest.cpp - attn_attention_f32 against an fp64 loop --------===//
//
// Bound: max|o - ref| <= 1e-5 · max|ref| (kRelTol), ref in fp64. The sweep
// follows shared/RELIABILITY.md ("Numerics"): odd lengths, decode, kv_len 1,
// GQA and MQA, Dqk != Dv, causal with q_len < kv_len and q_len > kv_len,
// lengths that are no multiple of the kernel's 256-key and 64-row blocks;
// each in a contiguous, a strided (in place) and a scattered (copied) layout.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace attenuate::runtime::test;

namespace {

struct Layouts {
  Layout q, k, v, o;
  std::string name;
};

Layouts layoutsNamed(const std::string &name) {
  if (name == "strided")
    // q stored [B, H, S, D]; k and v sliced from a larger cache (padding
    // on every dim, including the sequence); o stored [S, B, H, D].
    return {strided({0, 2, 1, 3}), strided({0, 1, 2, 3}, 7),
            strided({0, 2, 1, 3}, 5), strided({1, 0, 2, 3}), name};
  if (name == "scattered")
    return {scattered({0, 2, 1, 3}), scattered(), scattered({2, 0, 1, 3}),
            scattered({1, 0, 2, 3}), name};
  return {{}, {}, {}, {}, "contiguous"};
}

struct AttentionRun {
  std::vector<float> out;
  double error;
};

AttentionRun runAttention(const AttentionShape &s, const Layouts &l,
                          double scale, uint32_t seed = 5,
                          float inputScale = 1.0f) {
  std::mt19937 rng(seed);
  Tensor q({s.batch, s.queries, s.qHeads, s.dqk}, l.q),
      k({s.batch, s.keys, s.kvHeads, s.dqk}, l.k),
      v({s.batch, s.keys, s.kvHeads, s.dv}, l.v),
      o({s.batch, s.queries, s.qHeads, s.dv}, l.o);
  q.fillUniform(rng, -inputScale, inputScale);
  k.fillUniform(rng, -inputScale, inputScale);
  v.fillUniform(rng);
  attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(), ov = o.view();
  EXPECT_EQ(attn_attention_f32(&qv, &kv, &vv, scale, s.causal, &ov), ATTN_OK)
      << attn_last_error();
  EXPECT_TRUE(o.paddingIntact()) << "wrote outside o's view";
  std::vector<double> ref =
      attentionRef(q.dense(), k.dense(), v.dense(), s, scale);
  return {o.values(), relError(o.values(), ref)};
}

std::string shapeName(const AttentionShape &s) {
  return "B" + std::to_string(s.batch) + "_Sq" + std::to_string(s.queries) +
         "_Skv" + std::to_string(s.keys) + "_Hq" + std::to_string(s.qHeads) +
         "_Hkv" + std::to_string(s.kvHeads) + "_Dqk" + std::to_string(s.dqk) +
         "_Dv" + std::to_string(s.dv) + (s.causal ? "_causal" : "_full");
}

const AttentionShape kSweep[] = {
    // Decode: one query against an odd-length cache.
    {1, 1, 113, 4, 4, 16, 16, false},
    {1, 1, 113, 4, 4, 16, 16, true},
    {2, 1, 17, 6, 2, 16, 16, true},
    // kv_len 1.
    {2, 17, 1, 2, 2, 8, 8, false},
    {1, 1, 1, 1, 1, 1, 1, false},
    // Square causal prefill, odd lengths.
    {1, 17, 17, 2, 2, 16, 16, true},
    {1, 113, 113, 2, 2, 16, 16, true},
    // q_len < kv_len: bottom-right alignment (chunked prefill).
    {2, 17, 113, 6, 2, 16, 16, true},
    {2, 17, 113, 6, 2, 16, 16, false},
    // GQA 3:1 and MQA, including MQA decode across a 256-key block edge.
    {1, 17, 113, 6, 2, 24, 24, true},
    {1, 17, 113, 4, 1, 16, 16, true},
    {1, 1, 300, 8, 1, 24, 24, false},
    {1, 1, 513, 16, 1, 32, 32, true},
    // Dqk != Dv, odd head dims.
    {1, 33, 17, 3, 3, 24, 8, false},
    {2, 130, 300, 4, 2, 13, 7, true},
    {1, 5, 77, 2, 1, 72, 64, true},
    // q_len > kv_len, causal: the first rows see no key at all.
    {1, 113, 17, 2, 2, 8, 8, true},
    {2, 17, 1, 2, 1, 8, 8, true},
    // Long odd prefill: several query and key blocks, ragged ends.
    {1, 1023, 1023, 2, 1, 8, 8, true},
};

class AttentionSweep
    : public ::testing::TestWithParam<std::tuple<AttentionShape, std::string>> {
};

TEST_P(AttentionSweep, MatchesReference) {
  const auto &[shape, layoutName] = GetParam();
  attn_set_num_threads(3);
  double scale =
      1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(shape.dqk, 1)));
  AttentionRun r = runAttention(shape, layoutsNamed(layoutName), scale);
  EXPECT_LT(r.error, kRelTol);
  attn_set_num_threads(0);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionSweep,
    ::testing::Combine(::testing::ValuesIn(kSweep),
                       ::testing::Values("contiguous", "strided", "scattered")),
    [](const auto &info) {
      return shapeName(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
    });

TEST(Attention, FullyMaskedRowsAreZero) {
  // Causal, 7 queries, 3 keys: query i sees keys j <= i - 4, so rows 0..3
  // see nothing and must be exactly 0 (not NaN, not a uniform average).
  AttentionShape s{1, 7, 3, 2, 1, 4, 4, true};
  Tensor q({1, 7, 2, 4}), k({1, 3, 1, 4}), v({1, 3, 1, 4}), o({1, 7, 2, 4});
  std::mt19937 rng(9);
  q.fillUniform(rng);
  k.fillUniform(rng);
  v.fillUniform(rng, 1.0f, 2.0f);
  attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(), ov = o.view();
  ASSERT_EQ(attn_attention_f32(&qv, &kv, &vv, 0.5, 1, &ov), ATTN_OK);
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 4; ++e) {
        float value = o.at({0, i, h, e});
        if (i < 4)
          EXPECT_EQ(value, 0.0f) << i;
        else
          EXPECT_GE(value, 1.0f) << i;
      }
  EXPECT_LT(relError(o.values(),
                     attentionRef(q.dense(), k.dense(), v.dense(), s, 0.5)),
            kRelTol);
}

TEST(Attention, NoKeysGivesZero) {
  for (bool causal : {false, true}) {
    Tensor q({1, 3, 2, 4}), k({1, 0, 2, 4}), v({1, 0, 2, 4}), o({1, 3, 2, 4});
    q.fill(1.0f);
    attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(), ov = o.view();
    ASSERT_EQ(attn_attention_f32(&qv, &kv, &vv, 1.0, causal, &ov), ATTN_OK);
    for (float value : o.values())
      EXPECT_EQ(value, 0.0f);
  }
}

TEST(Attention, ZeroHeadDimAveragesValues) {
  // Dqk = 0: every logit is 0, so each row is the mean of the values it sees.
  AttentionShape s{1, 4, 5, 2, 2, 0, 3, false};
  AttentionRun r = runAttention(s, layoutsNamed("contiguous"), 1.0);
  EXPECT_LT(r.error, kRelTol);
}

TEST(Attention, LargeLogitsStayFinite) {
  // Integer q and k make the fp32 logits exact, so the kernel is held to the
  // usual bound while logits reach about ±1000 (x100 a typical range) and
  // the softmax is nearly one-hot.
  for (bool causal : {false, true}) {
    AttentionShape s{2, 17, 113, 4, 2, 16, 16, causal};
    std::mt19937 rng(13);
    Tensor q({2, 17, 4, 16}), k({2, 113, 2, 16}), v({2, 113, 2, 16}),
        o({2, 17, 4, 16});
    q.fillInts(rng, -4, 4);
    k.fillInts(rng, -4, 4);
    v.fillUniform(rng);
    attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(), ov = o.view();
    ASSERT_EQ(attn_attention_f32(&qv, &kv, &vv, 4.0, causal, &ov), ATTN_OK);
    EXPECT_LT(relError(o.values(),
                       attentionRef(q.dense(), k.dense(), v.dense(), s, 4.0)),
              kRelTol);
  }
  // Random inputs scaled by 10 each (logits x100): fp32 rounding of the
  // logits themselves is then amplified 100-fold, so only finiteness and a
  // correspondingly looser 1e-3 bound are asserted.
  AttentionShape s{1, 33, 300, 2, 1, 16, 16, true};
  AttentionRun r = runAttention(s, layoutsNamed("contiguous"), 0.25, 17, 10.0f);
  for (float value : r.out)
    ASSERT_TRUE(std::isfinite(value));
  EXPECT_LT(r.error, 1e-3);
}

TEST(Attention, NegativeScale) {
  AttentionShape s{1, 17, 40, 2, 1, 8, 8, true};
  EXPECT_LT(runAttention(s, layoutsNamed("contiguous"), -0.7).error, kRelTol);
}

TEST(Attention, ResultsDoNotDependOnThreads) {
  AttentionShape s{2, 130, 300, 6, 2, 16, 8, true};
  Layouts l = layoutsNamed("strided");
  attn_set_num_threads(1);
  AttentionRun serial = runAttention(s, l, 0.25);
  for (int threads : {2, 3, 4, 8}) {
    attn_set_num_threads(threads);
    for (int repeat = 0; repeat < 2; ++repeat)
      EXPECT_TRUE(bitwiseEqual(serial.out, runAttention(s, l, 0.25).out))
          << threads << " threads";
  }
  attn_set_num_threads(0);
}

TEST(Attention, ConcurrentCallersGetTheirOwnResults) {
  // Host threads share one worker pool; each must still get exactly what it
  // gets alone.
  attn_set_num_threads(3);
  AttentionShape shapes[] = {{1, 17, 113, 6, 2, 16, 16, true},
                             {2, 1, 300, 8, 1, 24, 24, false},
                             {1, 33, 17, 3, 3, 24, 8, false},
                             {1, 64, 64, 4, 4, 8, 8, true}};
  std::vector<std::vector<float>> alone;
  for (const auto &s : shapes)
    alone.push_back(runAttention(s, layoutsNamed("contiguous"), 0.3).out);
  std::vector<std::vector<float>> together(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 5; ++repeat)
        together[t] =
            runAttention(shapes[t], layoutsNamed("contiguous"), 0.3).out;
    });
  for (auto &t : threads)
    t.join();
  for (int t = 0; t < 4; ++t)
    EXPECT_TRUE(bitwiseEqual(alone[t], together[t])) << t;
  attn_set_num_threads(0);
}

TEST(Attention, WorksInForkedChild) {
  // Python forks (multiprocessing, data loaders) after the pool has started;
  // the child has no workers and must not wait for them. (Under TSan this
  // needs TSAN_OPTIONS=die_after_fork=0: TSan refuses threads after fork.)
  attn_set_num_threads(3);
  AttentionShape s{2, 33, 77, 6, 2, 16, 16, true};
  AttentionRun parent = runAttention(s, layoutsNamed("contiguous"), 0.25);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(30);
    AttentionRun child = runAttention(s, layoutsNamed("contiguous"), 0.25);
    _exit(bitwiseEqual(parent.out, child.out) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "child hung or crashed";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  attn_set_num_threads(0);
}

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

TEST(Attention, RestoresOpenBlasThreads) {
  // The kernel runs sgemm single-threaded inside its own workers; the
  // projections that follow must get OpenBLAS' threads back.
  int before = openblas_get_num_threads();
  openblas_set_num_threads(2);
  runAttention({1, 17, 113, 4, 2, 16, 16, true}, layoutsNamed("contiguous"),
               0.25);
  EXPECT_EQ(openblas_get_num_threads(), 2);
  openblas_set_num_threads(before);
}

class AttentionErrors : public ::testing::Test {
protected:
  Tensor q{{2, 5, 4, 8}}, k{{2, 7, 2, 8}}, v{{2, 7, 2, 6}}, o{{2, 5, 4, 6}};
  attn_view_f32 qv = q.view(), kv = k.view(), vv = v.view(), ov = o.view();
  double scale = 0.5;

  void expectError(int code, std::initializer_list<const char *> needles) {
    EXPECT_EQ(attn_attention_f32(&qv, &kv, &vv, scale, 1, &ov), code);
    std::string msg = attn_last_error();
    EXPECT_NE(msg.find("attn_attention_f32"), std::string::npos) << msg;
    for (const char *n : needles)
      EXPECT_NE(msg.find(n), std::string::npos)
          << "'" << n << "' not in: " << msg;
  }
  void reset() {
    qv = q.view();
    kv = k.view();
    vv = v.view();
    ov = o.view();
    scale = 0.5;
  }
};

TEST_F(AttentionErrors, NullPointers) {
  EXPECT_EQ(attn_attention_f32(nullptr, &kv, &vv, 1.0, 0, &ov), ATTN_ERR_NULL);
  EXPECT_EQ(attn_attention_f32(&qv, nullptr, &vv, 1.0, 0, &ov), ATTN_ERR_NULL);
  EXPECT_EQ(attn_attention_f32(&qv, &kv, nullptr, 1.0, 0, &ov), ATTN_ERR_NULL);
  EXPECT_EQ(attn_attention_f32(&qv, &kv, &vv, 1.0, 0, nullptr), ATTN_ERR_NULL);
  EXPECT_NE(std::string(attn_last_error()).find("o is a null view"),
            std::string::npos);
  vv.data = nullptr;
  expectError(ATTN_ERR_NULL, {"v [2, 7, 2, 6]", "null data"});
}

TEST_F(AttentionErrors, Shapes) {
  qv.rank = 3;
  expectError(ATTN_ERR_SHAPE, {"q must have rank 4", "got rank 3 [2, 5, 4]"});
  reset();
  kv.sizes[2] = 3;
  vv.sizes[2] = 3;
  expectError(ATTN_ERR_SHAPE,
              {"Hq = 4 is not a multiple of Hkv = 3", "q [2, 5, 4, 8]"});
  reset();
  kv.sizes[3] = 9;
  expectError(ATTN_ERR_SHAPE, {"head dims differ", "k [2, 7, 2, 9]"});
  reset();
  vv.sizes[1] = 6;
  expectError(ATTN_ERR_SHAPE, {"k and v differ", "v [2, 6, 2, 6]"});
  reset();
  kv.sizes[0] = 1;
  expectError(ATTN_ERR_SHAPE, {"batch sizes differ"});
  reset();
  ov.sizes[3] = 8;
  expectError(ATTN_ERR_SHAPE, {"o must be [2, 5, 4, 6]", "o [2, 5, 4, 8]"});
  reset();
  scale = std::nan("");
  expectError(ATTN_ERR_SHAPE, {"scale"});
  reset();
  scale = 1e300;
  expectError(ATTN_ERR_SHAPE, {"scale"});
  reset();
  kv.sizes[2] = 0;
  vv.sizes[2] = 0;
  expectError(ATTN_ERR_SHAPE, {"Hkv = 0"});
}

TEST_F(AttentionErrors, MessagesShowStridesOfNonContiguousViews) {
  Tensor cache({2, 9, 2, 8});
  kv = cache.view();
  kv.sizes[1] = 7;
  kv.sizes[3] = 9;
  expectError(ATTN_ERR_SHAPE, {"k [2, 7, 2, 9] (strides [144, 16, 8, 1])"});
}

} // namespace
