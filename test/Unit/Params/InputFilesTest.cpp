//===- InputFilesTest.cpp - the committed test/Inputs/safetensors files ---===//
//
// README.md there is generated together with the files and is the contract
// the lit suite also relies on; this test keeps the reader, the files and the
// table in agreement.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Params/Safetensors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace attenuate::params;
using namespace attenuate::params::test;

namespace {

const std::string kDir = ATTN_SAFETENSORS_INPUTS;

struct Row {
  std::string file;
  std::string keyword; // "-" for good files
};

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" `");
  size_t e = s.find_last_not_of(" `");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<Row> readTable() {
  std::ifstream in(kDir + "/README.md");
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0)
      continue;
    std::vector<std::string> cols;
    size_t start = 1;
    while (true) {
      size_t bar = line.find(" |", start);
      if (bar == std::string::npos)
        break;
      cols.push_back(trim(line.substr(start, bar - start)));
      start = bar + 2;
    }
    if (cols.size() == 4)
      rows.push_back({cols[0], cols[3]});
  }
  return rows;
}

TEST(InputFiles, TableListsEveryFileAndEnoughBadOnes) {
  std::vector<Row> rows = readTable();
  std::set<std::string> listed;
  int bad = 0;
  for (const Row &r : rows) {
    listed.insert(r.file);
    bad += r.file.rfind("bad_", 0) == 0;
  }
  EXPECT_GE(bad, 30);
  std::set<std::string> onDisk;
  for (const auto &e : std::filesystem::directory_iterator(kDir))
    if (e.path().extension() == ".safetensors")
      onDisk.insert(e.path().filename().string());
  EXPECT_EQ(listed, onDisk);
}

TEST(InputFiles, BadFilesAreRejectedWithTheDocumentedReason) {
  for (const Row &r : readTable()) {
    if (r.file.rfind("bad_", 0) != 0)
      continue;
    std::string path = kDir + "/" + r.file;
    std::string error;
    EXPECT_EQ(SafetensorsFile::open(path, error), nullptr) << r.file;
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
    EXPECT_NE(error.find(r.keyword), std::string::npos)
        << r.file << ": expected \"" << r.keyword << "\" in: " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    error.clear();
    EXPECT_EQ(SafetensorsFile::openHeader(path, error), nullptr) << r.file;
    EXPECT_NE(error.find(r.keyword), std::string::npos) << error;
  }
}

TEST(InputFiles, GoodBasic) {
  std::string path = kDir + "/good_basic.safetensors";
  std::string error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(file->metadata().at("format"), "pt");
  ASSERT_EQ(file->tensors().size(), 4u);
  std::vector<float> values;
  ASSERT_TRUE(file->readAsF32(*file->find("a"), values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{1, 2, 3, 4}));
  ASSERT_TRUE(file->readAsF32(*file->find("b"), values, error)) << error;
  EXPECT_EQ(values, (std::vector<float>{-1, 0, 1}));
  ASSERT_TRUE(file->readAsF32(*file->find("c"), values, error)) << error;
  EXPECT_EQ(values, std::vector<float>{1});
  EXPECT_TRUE(file->find("c")->shape.empty());
  EXPECT_EQ(file->find("empty")->numElements(), 0u);
  for (const TensorInfo &t : file->tensors())
    EXPECT_TRUE(file->checkFinite(t, error)) << error;
}

TEST(InputFiles, GoodUnaligned) {
  std::string path = kDir + "/good_unaligned.safetensors";
  std::string error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  std::vector<double> values;
  ASSERT_TRUE(file->readAsF64(*file->find("f"), values, error)) << error;
  EXPECT_EQ(values, (std::vector<double>{0.5, -2.0}));
  ASSERT_TRUE(file->readAsF64(*file->find("byte"), values, error)) << error;
  EXPECT_EQ(values, std::vector<double>{7});
}

} // namespace
