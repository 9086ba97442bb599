//===- ParamStoreTest.cpp - archives, shard indexes, in-memory tensors ----===//

#include "attenuate/Params/ParamStore.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <sys/stat.h>

using namespace attenuate::params;
using namespace attenuate::params::test;

namespace {

std::vector<uint8_t> f32Bytes(std::initializer_list<float> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

/// Writes an archive of F32 tensors, each given as its values (1-d).
void writeF32(
    const std::string &path,
    const std::vector<std::pair<std::string, std::vector<float>>> &tensors) {
  std::vector<TensorToWrite> list;
  for (const auto &[name, values] : tensors)
    list.push_back({name,
                    DType::F32,
                    {static_cast<int64_t>(values.size())},
                    values.data()});
  std::string error;
  ASSERT_TRUE(SafetensorsWriter::writeFile(path, list, {}, error)) << error;
}

void writeText(const std::string &path, const std::string &text) {
  writeBytes(path, text);
}

TEST(ParamStore, SingleArchive) {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  writeF32(path, {{"w", {1, 2, 3}}, {"b", {4}}});
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addArchive(path, error)) << error;
  EXPECT_EQ(store.archivePaths(), std::vector<std::string>{path});
  EXPECT_EQ(store.names(), (std::vector<std::string>{"b", "w"}));
  const ParamRef *w = store.lookup("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->name, "w");
  EXPECT_EQ(w->dtype, DType::F32);
  EXPECT_EQ(w->shape, std::vector<int64_t>{3});
  EXPECT_EQ(w->source, path);
  ASSERT_NE(w->data, nullptr);
  float second;
  std::memcpy(&second, w->data + 4, 4);
  EXPECT_EQ(second, 2.0f);
  EXPECT_EQ(store.lookup("nope"), nullptr);
  std::vector<float> values;
  ASSERT_TRUE(store.readAsF32("w", values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{1, 2, 3}));
  std::vector<double> f64;
  ASSERT_TRUE(store.readAsF64("b", f64, error)) << error;
  EXPECT_EQ(f64, std::vector<double>{4});
  EXPECT_FALSE(store.readAsF32("nope", values, error));
  EXPECT_EQ(error, "unknown parameter \"nope\"");
}

TEST(ParamStore, BadArchiveLeavesStoreUnchanged) {
  TempDir dir;
  std::string good = dir.file("good.safetensors");
  writeF32(good, {{"w", {1}}});
  std::string bad = dir.file("bad.safetensors");
  writeBytes(bad, archive("{}", zeros(3)));
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addArchive(good, error)) << error;
  EXPECT_FALSE(store.addArchive(bad, error));
  EXPECT_EQ(error.rfind(bad + ": ", 0), 0u) << error;
  EXPECT_FALSE(store.addArchive(dir.file("missing.safetensors"), error));
  EXPECT_NE(error.find("missing.safetensors: cannot open"), std::string::npos)
      << error;
  EXPECT_EQ(store.archivePaths().size(), 1u);
  EXPECT_EQ(store.names(), std::vector<std::string>{"w"});
}

TEST(ParamStore, DuplicateAcrossArchivesNamesBothFiles) {
  TempDir dir;
  std::string a = dir.file("a.safetensors");
  std::string b = dir.file("b.safetensors");
  writeF32(a, {{"shared", {1}}, {"only.a", {2}}});
  writeF32(b, {{"only.b", {3}}, {"shared", {4}}});
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addArchive(a, error)) << error;
  EXPECT_FALSE(store.addArchive(b, error));
  EXPECT_EQ(error, "duplicate tensor \"shared\": in " + a + " and in " + b);
  // Nothing of b was added.
  EXPECT_EQ(store.lookup("only.b"), nullptr);
  EXPECT_EQ(store.archivePaths(), std::vector<std::string>{a});
  // The same file twice is a duplicate too.
  EXPECT_FALSE(store.addArchive(a, error));
  EXPECT_NE(error.find("duplicate tensor"), std::string::npos);
}

TEST(ParamStore, AddedTensorsTakePrecedenceAndAreWrittenOut) {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  writeF32(path, {{"w", {1, 2}}, {"keep", {5}}});
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addArchive(path, error)) << error;
  EXPECT_FALSE(store.hasAddedTensors());

  ASSERT_TRUE(store.addTensor("w", DType::F32, {2}, f32Bytes({7, 8}), error))
      << error;
  ASSERT_TRUE(store.addTensor("new", DType::F32, {1, 1}, f32Bytes({9}), error))
      << error;
  EXPECT_TRUE(store.hasAddedTensors());
  const ParamRef *w = store.lookup("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->source, "<memory>");
  std::vector<float> values;
  ASSERT_TRUE(store.readAsF32("w", values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{7, 8}));
  ASSERT_TRUE(store.readAsF32("keep", values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{5});
  EXPECT_EQ(store.names(), (std::vector<std::string>{"keep", "new", "w"}));

  // Replacing an added tensor keeps its data pointer valid.
  ASSERT_TRUE(store.addTensor("w", DType::F16, {1},
                              std::vector<uint8_t>{0x00, 0x3c}, error))
      << error;
  ASSERT_TRUE(store.readAsF32("w", values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{1.0f});

  std::string out = dir.file("added.safetensors");
  ASSERT_TRUE(store.writeAdded(out, error)) << error;
  auto file = SafetensorsFile::open(out, error);
  ASSERT_NE(file, nullptr) << error;
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->find("w")->dtype, DType::F16);
  EXPECT_EQ(file->find("new")->shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(file->find("keep"), nullptr); // archive tensors are not copied

  // The written file loads into a fresh store alongside the original.
  ParamStore reloaded;
  ASSERT_TRUE(reloaded.addArchive(out, error)) << error;
  ASSERT_TRUE(reloaded.readAsF32("new", values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{9});
}

TEST(ParamStore, LargeAddedTensorsAreSpilledAndWrittenExactly) {
  TempDir dir;
  ParamStore store;
  std::string error;
  // Two spilled tensors (one not a multiple of the page size, so the second
  // starts on a rounded offset) between two small in-memory ones.
  size_t big = ParamStore::kSpillBytes + 12;
  std::vector<uint8_t> a(big), b(ParamStore::kSpillBytes);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<uint8_t>(i * 7 + 3);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<uint8_t>(i * 13 + 1);
  ASSERT_TRUE(store.addTensor("a", DType::U8, {int64_t(big)}, a, error))
      << error;
  ASSERT_TRUE(store.addTensor("b", DType::U8, {int64_t(b.size())}, b, error))
      << error;
  ASSERT_TRUE(store.addTensor("c", DType::F32, {1}, f32Bytes({4}), error))
      << error;
  const ParamRef *ra = store.lookup("a");
  ASSERT_NE(ra, nullptr);
  EXPECT_EQ(std::memcmp(ra->data, a.data(), a.size()), 0);
  EXPECT_EQ(std::memcmp(store.lookup("b")->data, b.data(), b.size()), 0);

  std::string out = dir.file("spilled.safetensors");
  ASSERT_TRUE(store.writeAdded(out, error)) << error;
  auto file = SafetensorsFile::open(out, error);
  ASSERT_NE(file, nullptr) << error;
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(std::memcmp(file->data(*file->find("a")), a.data(), a.size()), 0);
  EXPECT_EQ(std::memcmp(file->data(*file->find("b")), b.data(), b.size()), 0);

  // Replacing a spilled tensor by a small one.
  ASSERT_TRUE(store.addTensor("a", DType::F32, {1}, f32Bytes({2}), error))
      << error;
  std::vector<float> values;
  ASSERT_TRUE(store.readAsF32("a", values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{2});
}

TEST(ParamStore, AddTensorValidates) {
  ParamStore store;
  std::string error;
  EXPECT_FALSE(
      store.addTensor("w", DType::F32, {2, 2}, f32Bytes({1, 2, 3}), error));
  EXPECT_EQ(error,
            "<memory>: tensor \"w\": 12 bytes do not match 16 bytes of F32[2, "
            "2]");
  EXPECT_FALSE(store.addTensor("w", DType::F32, {-1}, {}, error));
  EXPECT_NE(error.find("negative"), std::string::npos);
  EXPECT_FALSE(store.addTensor("", DType::F32, {}, f32Bytes({1}), error));
  EXPECT_NE(error.find("empty"), std::string::npos);
  EXPECT_FALSE(
      store.addTensor("__metadata__", DType::F32, {}, f32Bytes({1}), error));
  EXPECT_FALSE(store.hasAddedTensors());
  // Empty tensors are fine and read as empty.
  ASSERT_TRUE(store.addTensor("e", DType::BF16, {0, 4}, {}, error)) << error;
  std::vector<float> values{1};
  ASSERT_TRUE(store.readAsF32("e", values, error)) << error;
  EXPECT_TRUE(values.empty());
  ASSERT_TRUE(store.addTensor("flag", DType::BOOL, {1}, {1}, error));
  EXPECT_FALSE(store.readAsF32("flag", values, error));
  EXPECT_NE(error.find("BOOL"), std::string::npos);
}

TEST(ParamStore, WriteAddedIsAtomic) {
  TempDir dir;
  std::string out = dir.file("plain");
  writeBytes(out, "old");
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addTensor("w", DType::F32, {1}, f32Bytes({1}), error));
  EXPECT_FALSE(store.writeAdded(dir.file("plain/sub.safetensors"), error));
  EXPECT_EQ(readBytes(out), "old");
  EXPECT_EQ(countTemporaries(dir.path()), 0);
}

TEST(ParamStore, HeaderOnly) {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  writeF32(path, {{"w", {1, 2}}});
  ParamStore store(/*headerOnly=*/true);
  std::string error;
  ASSERT_TRUE(store.addArchive(path, error)) << error;
  const ParamRef *w = store.lookup("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape, std::vector<int64_t>{2});
  EXPECT_EQ(w->data, nullptr);
  std::vector<float> values;
  EXPECT_FALSE(store.readAsF32("w", values, error));
  EXPECT_EQ(error,
            path + ": tensor \"w\": no data (archive opened header-only)");
}

/// A two-shard checkpoint in `dir` with the given weight_map body.
struct Sharded {
  explicit Sharded(const TempDir &tempDir) : dir(tempDir) {
    writeF32(dir.file("model-00001-of-00002.safetensors"),
             {{"embed", {1, 2}}, {"layer.0", {3}}});
    writeF32(dir.file("model-00002-of-00002.safetensors"),
             {{"layer.1", {4}}, {"head", {5, 6, 7}}});
    index = dir.file("model.safetensors.index.json");
  }
  void writeIndex(const std::string &weightMap) {
    writeText(index, "{\"metadata\": {\"total_size\": 32},\n \"weight_map\": " +
                         weightMap + "}\n");
  }
  const TempDir &dir;
  std::string index;
};

const char kGoodMap[] = R"({
  "embed": "model-00001-of-00002.safetensors",
  "layer.0": "model-00001-of-00002.safetensors",
  "layer.1": "model-00002-of-00002.safetensors",
  "head": "model-00002-of-00002.safetensors"
})";

TEST(ShardIndex, GoodIndexLoadsEveryShard) {
  TempDir dir;
  Sharded ckpt(dir);
  ckpt.writeIndex(kGoodMap);
  std::map<std::string, std::string> map;
  std::string error;
  ASSERT_TRUE(readShardIndex(ckpt.index, map, error)) << error;
  EXPECT_EQ(map.size(), 4u);
  EXPECT_EQ(map["head"], "model-00002-of-00002.safetensors");

  ParamStore store;
  ASSERT_TRUE(store.addArchive(ckpt.index, error)) << error;
  EXPECT_EQ(store.archivePaths(), std::vector<std::string>{ckpt.index});
  EXPECT_EQ(store.names(),
            (std::vector<std::string>{"embed", "head", "layer.0", "layer.1"}));
  EXPECT_EQ(store.lookup("head")->source,
            dir.file("model-00002-of-00002.safetensors"));
  std::vector<float> values;
  ASSERT_TRUE(store.readAsF32("head", values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{5, 6, 7}));

  ParamStore headers(/*headerOnly=*/true);
  ASSERT_TRUE(headers.addArchive(ckpt.index, error)) << error;
  EXPECT_EQ(headers.lookup("head")->data, nullptr);
}

TEST(ShardIndex, RelativeIndexPathResolvesAgainstItsDirectory) {
  TempDir dir;
  Sharded ckpt(dir);
  ckpt.writeIndex(kGoodMap);
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  ParamStore store;
  std::string error;
  bool ok = store.addArchive("model.safetensors.index.json", error);
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(store.lookup("embed")->source, "model-00001-of-00002.safetensors");
}

TEST(ShardIndex, MissingShard) {
  TempDir dir;
  Sharded ckpt(dir);
  ckpt.writeIndex(R"({"embed": "model-00001-of-00002.safetensors",
                      "extra": "model-00003-of-00002.safetensors"})");
  ParamStore store;
  std::string error;
  EXPECT_FALSE(store.addArchive(ckpt.index, error));
  EXPECT_EQ(error.rfind(dir.file("model-00003-of-00002.safetensors") +
                            ": cannot open",
                        0),
            0u)
      << error;
  EXPECT_NE(error.find("listed in " + ckpt.index), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_TRUE(store.names().empty());
  EXPECT_TRUE(store.archivePaths().empty());
}

TEST(ShardIndex, TensorMissingFromItsShard) {
  TempDir dir;
  Sharded ckpt(dir);
  // "head" lives in shard 2, but the index says shard 1.
  ckpt.writeIndex(R"({"embed": "model-00001-of-00002.safetensors",
                      "head": "model-00001-of-00002.safetensors"})");
  ParamStore store;
  std::string error;
  EXPECT_FALSE(store.addArchive(ckpt.index, error));
  EXPECT_EQ(error, ckpt.index + ": tensor \"head\": listed in shard \"" +
                       dir.file("model-00001-of-00002.safetensors") +
                       "\", which has no such tensor");
  EXPECT_TRUE(store.names().empty());
}

TEST(ShardIndex, DuplicateAcrossShards) {
  TempDir dir;
  Sharded ckpt(dir);
  writeF32(dir.file("model-00002-of-00002.safetensors"),
           {{"layer.1", {4}}, {"embed", {0, 0}}});
  ckpt.writeIndex(R"({"embed": "model-00001-of-00002.safetensors",
                      "layer.1": "model-00002-of-00002.safetensors"})");
  ParamStore store;
  std::string error;
  EXPECT_FALSE(store.addArchive(ckpt.index, error));
  EXPECT_EQ(error, "duplicate tensor \"embed\": in " +
                       dir.file("model-00001-of-00002.safetensors") +
                       " and in " +
                       dir.file("model-00002-of-00002.safetensors"));
  EXPECT_TRUE(store.names().empty());
}

TEST(ShardIndex, DuplicateBetweenIndexAndPlainArchive) {
  TempDir dir;
  Sharded ckpt(dir);
  ckpt.writeIndex(kGoodMap);
  std::string extra = dir.file("extra.safetensors");
  writeF32(extra, {{"head", {0}}});
  ParamStore store;
  std::string error;
  ASSERT_TRUE(store.addArchive(ckpt.index, error)) << error;
  EXPECT_FALSE(store.addArchive(extra, error));
  EXPECT_EQ(error, "duplicate tensor \"head\": in " +
                       dir.file("model-00002-of-00002.safetensors") +
                       " and in " + extra);
}

TEST(ShardIndex, MalformedIndexes) {
  TempDir dir;
  std::string index = dir.file("model.safetensors.index.json");
  const struct {
    std::string text;
    const char *keyword;
  } cases[] = {
      {"", "not valid JSON"},
      {"{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}", "duplicate key"},
      {"[]", "not a JSON object"},
      {"{\"metadata\": {}}", "missing field \"weight_map\""},
      {"{\"weight_map\": []}", "\"weight_map\" is not an object"},
      {"{\"metadata\": 3, \"weight_map\": {}}",
       "\"metadata\" is not an object"},
      {"{\"weight_map\": {\"a\": 1}}", "tensor \"a\": shard is not a string"},
      {"{\"weight_map\": {\"a\": \"\"}}", "relative path"},
      {"{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "relative path"},
      {"{\"weight_map\": {\"a\": \"../x.safetensors\"}}", "relative path"},
      {"{\"weight_map\": {\"a\": \"sub/../../x\"}}", "relative path"},
      {"{\"weight_map\": {\"\": \"x.safetensors\"}}", "name is empty"},
      {"{\"weight_map\": {\"a\": \"x\"}} trailing", "not valid JSON"},
  };
  for (const auto &c : cases) {
    writeText(index, c.text);
    std::map<std::string, std::string> map;
    std::string error;
    EXPECT_FALSE(readShardIndex(index, map, error)) << c.text;
    EXPECT_EQ(error.rfind(index + ": ", 0), 0u) << error;
    EXPECT_NE(error.find(c.keyword), std::string::npos)
        << c.text << " -> " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    ParamStore store;
    EXPECT_FALSE(store.addArchive(index, error));
  }
  std::map<std::string, std::string> map;
  std::string error;
  EXPECT_FALSE(readShardIndex(dir.file("absent.json"), map, error));
  EXPECT_NE(error.find("absent.json: cannot open"), std::string::npos);
  // Shards in subdirectories are allowed.
  writeText(index, "{\"weight_map\": {\"a\": \"sub/./x.safetensors\"}}");
  EXPECT_TRUE(readShardIndex(index, map, error)) << error;
  EXPECT_EQ(map["a"], "sub/./x.safetensors");
}

} // namespace
