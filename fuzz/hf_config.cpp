//===- hf_config.cpp - fuzz the Hugging Face config.json importer ---------===//
//
// The input is config.json; the archives are a fixed tiny checkpoint written
// once per process (two Llama layers, hidden 8, 2 query heads and 1 KV head
// of dim 4, intermediate 16, vocab 16, with every optional tensor: biases,
// lm_head), so that a config that matches it goes all the way through IR
// construction and printing, for @forward and for the training partition.
// Every failure must be one line naming the file; the importer's own
// "internal error" (IR that does not verify) is a finding.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "attenuate/Import/HuggingFace.h"
#include "attenuate/Params/Safetensors.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace mlir;
namespace params = attenuate::params;

static attn_fuzz::Contexts contexts(/*inputsPerContext=*/500);

static std::string makeCheckpoint() {
  std::string dir = std::filesystem::temp_directory_path().string() +
                    "/attn-fuzz-hf-XXXXXX";
  if (!::mkdtemp(dir.data()))
    attn_fuzz::fail("mkdtemp failed");
  const int64_t hidden = 8, inter = 16, vocab = 16, q = 8, kv = 4;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"model.embed_tokens.weight", {vocab, hidden}},
      {"model.norm.weight", {hidden}},
      {"lm_head.weight", {vocab, hidden}}};
  for (int i = 0; i < 2; ++i) {
    std::string l = "model.layers." + std::to_string(i) + ".";
    shapes.push_back({l + "input_layernorm.weight", {hidden}});
    shapes.push_back({l + "post_attention_layernorm.weight", {hidden}});
    shapes.push_back({l + "self_attn.q_proj.weight", {q, hidden}});
    shapes.push_back({l + "self_attn.k_proj.weight", {kv, hidden}});
    shapes.push_back({l + "self_attn.v_proj.weight", {kv, hidden}});
    shapes.push_back({l + "self_attn.o_proj.weight", {hidden, q}});
    shapes.push_back({l + "self_attn.q_proj.bias", {q}});
    shapes.push_back({l + "self_attn.k_proj.bias", {kv}});
    shapes.push_back({l + "self_attn.v_proj.bias", {kv}});
    shapes.push_back({l + "self_attn.o_proj.bias", {hidden}});
    shapes.push_back({l + "mlp.gate_proj.weight", {inter, hidden}});
    shapes.push_back({l + "mlp.up_proj.weight", {inter, hidden}});
    shapes.push_back({l + "mlp.down_proj.weight", {hidden, inter}});
  }
  static std::vector<float> zeros(vocab * hidden, 0.0f);
  std::vector<params::TensorToWrite> tensors;
  for (auto &[name, shape] : shapes)
    tensors.push_back({name, params::DType::F32, shape, zeros.data()});
  std::string error;
  if (!params::SafetensorsWriter::writeFile(dir + "/model.safetensors",
                                            tensors, {}, error))
    attn_fuzz::fail(error.c_str());
  return dir;
}

/// Never freed: the exit handler that removes the directory runs after
/// static destructors would have run.
static const std::string &checkpoint() {
  static const std::string *dir = [] {
    auto *d = new std::string(makeCheckpoint());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(checkpoint(), ec);
    });
    return d;
  }();
  return *dir;
}

/// Whether `error` is the importer's own "internal error" (the module it
/// built does not verify). Only its prefix counts: a config's own strings
/// are quoted into other messages and may say anything (the reproducer
/// fuzz/regressions/hf_config/internal-error-in-quoted-value has an
/// architecture named "LlamaForCainternal errorusalLM").
static bool isInternalError(const std::string &error) {
  return llvm::StringRef(error).starts_with(checkpoint() + ": internal error:");
}

/// Every failure is one non-empty line, never an internal error.
static void checkError(const std::string &error) {
  if (error.empty() || error.find('\n') != std::string::npos ||
      isInternalError(error)) {
    llvm::errs() << "attn-fuzz: bad importer error: " << error << "\n";
    std::abort();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = contexts.next();
  llvm::StringRef config(reinterpret_cast<const char *>(data), size);
  mlir::attn::HFImportOptions options;
  std::string error;
  auto module = mlir::attn::importHuggingFaceConfig(
      &ctx, checkpoint(), config, "config.json", options, error);
  if (failed(module)) {
    checkError(error);
    return 0;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::attn::printImportedModule(**module, os);
  // The same config through the training partition (attn-import --training).
  options.training = true;
  auto training = mlir::attn::importHuggingFaceConfig(
      &ctx, checkpoint(), config, "config.json", options, error);
  if (failed(training))
    checkError(error);
  return 0;
}
