//===- HuggingFace.cpp - Hugging Face checkpoint to attn IR ---------------===//
//
// The importer trusts nothing it reads: config.json goes through the strict
// JSON reader and every field is type- and range-checked before a shape is
// computed from it, and every tensor the config implies is checked against
// the safetensors headers before any IR is built. Failures are one line that
// names the file and the field or tensor, because users meet them on
// checkpoints they did not write.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Import/HuggingFace.h"

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Params/Json.h"
#include "attenuate/Params/ParamStore.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <charconv>
#include <cmath>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::attn;
namespace json = attenuate::json;
namespace params = attenuate::params;

/// Far above any real model, low enough that no product of two dims can
/// overflow int64 and that a hostile config cannot make us build a huge IR.
static constexpr int64_t kMaxDim = int64_t(1) << 24;
static constexpr int64_t kMaxLayers = 4096;
/// config.json is a few kilobytes; the bound keeps a wrong file from being
/// slurped.
static constexpr uint64_t kMaxConfigBytes = 16u << 20;

static const char *const kArchitectures[] = {
    "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};

namespace {
/// What the model computes, as the importer needs it: validated, defaults
/// applied.
struct ModelConfig {
  std::string architecture;
  std::string modelType;
  int64_t hidden = 0, intermediate = 0, heads = 0, kvHeads = 0, layers = 0,
          vocab = 0, headDim = 0, rotaryDim = 0;
  double rmsNormEps = 0, ropeTheta = 10000.0;
  bool tiedEmbeddings = false;
  bool qkvBias = false, oBias = false;
};
} // namespace

/// The shortest form that reads back as `x`.
static std::string formatNumber(double x) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

/// A value as a message shows it: scalars literally, containers by kind.
static std::string describe(const json::Value &v) {
  switch (v.kind) {
  case json::Value::Kind::Null:
    return "null";
  case json::Value::Kind::Bool:
    return v.boolean ? "true" : "false";
  case json::Value::Kind::Number: {
    if (v.isInteger && !v.integerOverflow)
      return (v.isNegative ? "-" : "") + std::to_string(v.magnitude);
    return formatNumber(v.number);
  }
  case json::Value::Kind::String:
    return json::quote(v.string);
  case json::Value::Kind::Array:
    return "an array";
  case json::Value::Kind::Object:
    return "an object";
  }
  return "?";
}

namespace {
/// Reads typed fields of config.json. Every failure names the field.
class ConfigReader {
public:
  /// `prefix` names the object within config.json in messages, e.g.
  /// "rope_parameters.".
  ConfigReader(std::string path, const json::Value &root, std::string &error,
               std::string prefix = "")
      : path(std::move(path)), prefix(std::move(prefix)), root(root),
        error(error) {}

  bool fail(const Twine &message) {
    error = path + ": " + message.str();
    return false;
  }

  /// The field, or nullptr when it is absent or null: Hugging Face writes
  /// `null` for "use the default".
  const json::Value *find(StringRef key) {
    const json::Value *v = root.get(std::string_view(key.data(), key.size()));
    return v && v->kind != json::Value::Kind::Null ? v : nullptr;
  }

  bool requireInt(StringRef key, int64_t max, int64_t &out) {
    if (!find(key))
      return fail("missing required field \"" + prefix + key + "\"");
    return optionalInt(key, max, out);
  }

  bool optionalInt(StringRef key, int64_t max, int64_t &out) {
    const json::Value *v = find(key);
    if (!v)
      return true;
    int64_t value;
    if (!v->isNumber() || !v->asI64(value) || value < 1 || value > max)
      return fail("field \"" + prefix + key + "\" must be an integer in [1, " +
                  Twine(max) + "], got " + describe(*v));
    out = value;
    return true;
  }

  /// A finite number; `positive` excludes zero as well.
  bool number(StringRef key, bool required, bool positive, double &out) {
    const json::Value *v = find(key);
    if (!v)
      return required ? fail("missing required field \"" + prefix + key + "\"")
                      : true;
    if (!v->isNumber() || !std::isfinite(v->number) || v->number < 0 ||
        (positive && v->number == 0))
      return fail("field \"" + prefix + key + "\" must be a " +
                  (positive ? "positive" : "non-negative") + " number, got " +
                  describe(*v));
    out = v->number;
    return true;
  }

  bool boolean(StringRef key, bool &out) {
    const json::Value *v = find(key);
    if (!v)
      return true;
    if (v->kind != json::Value::Kind::Bool)
      return fail("field \"" + prefix + key + "\" must be true or false, got " +
                  describe(*v));
    out = v->boolean;
    return true;
  }

  bool string(StringRef key, std::string &out) {
    const json::Value *v = find(key);
    if (!v)
      return true;
    if (!v->isString())
      return fail("field \"" + prefix + key + "\" must be a string, got " +
                  describe(*v));
    out = v->string;
    return true;
  }

private:
  std::string path, prefix;
  const json::Value &root;
  std::string &error;
};
} // namespace

static bool readSmallFile(StringRef path, std::string &out,
                          std::string &error) {
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status)) {
    error = path.str() + ": cannot read: " + ec.message();
    return false;
  }
  if (!llvm::sys::fs::is_regular_file(status)) {
    error = path.str() + ": not a regular file";
    return false;
  }
  if (status.getSize() > kMaxConfigBytes) {
    error = path.str() + ": file is larger than " +
            std::to_string(kMaxConfigBytes) + " bytes";
    return false;
  }
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    error = path.str() + ": cannot read: " + buffer.getError().message();
    return false;
  }
  out = (*buffer)->getBuffer().str();
  return true;
}

/// Parses and validates the text of config.json (`path` names it in
/// messages) into `config`.
static bool parseConfig(StringRef text, StringRef path, ModelConfig &config,
                        std::string &error) {
  json::Value root;
  std::string jsonError;
  if (!json::parse(text, root, jsonError)) {
    error = path.str() + ": not valid JSON: " + jsonError;
    return false;
  }
  ConfigReader r(path.str(), root, error);
  if (!root.isObject())
    return r.fail("top level is not a JSON object");

  const json::Value *archs = r.find("architectures");
  if (!archs)
    return r.fail("missing required field \"architectures\"");
  if (!archs->isArray() || archs->array.empty() ||
      !archs->array.front().isString())
    return r.fail("field \"architectures\" must be a non-empty array of "
                  "strings, got " +
                  describe(*archs));
  config.architecture = archs->array.front().string;
  if (!llvm::is_contained(kArchitectures, StringRef(config.architecture)))
    return r.fail("field \"architectures\": unsupported architecture " +
                  json::quote(config.architecture) +
                  " (supported: LlamaForCausalLM, MistralForCausalLM, "
                  "Qwen2ForCausalLM)");
  bool isLlama = config.architecture == "LlamaForCausalLM";
  bool isMistral = config.architecture == "MistralForCausalLM";
  bool isQwen2 = config.architecture == "Qwen2ForCausalLM";

  if (!r.string("model_type", config.modelType) ||
      !r.requireInt("hidden_size", kMaxDim, config.hidden) ||
      !r.requireInt("intermediate_size", kMaxDim, config.intermediate) ||
      !r.requireInt("num_attention_heads", kMaxDim, config.heads) ||
      !r.requireInt("num_hidden_layers", kMaxLayers, config.layers) ||
      !r.requireInt("vocab_size", kMaxDim, config.vocab) ||
      !r.number("rms_norm_eps", /*required=*/true, /*positive=*/false,
                config.rmsNormEps))
    return false;

  config.kvHeads = config.heads;
  if (!r.optionalInt("num_key_value_heads", kMaxDim, config.kvHeads))
    return false;
  if (config.heads % config.kvHeads != 0)
    return r.fail("field \"num_key_value_heads\": " + Twine(config.kvHeads) +
                  " key/value heads do not divide num_attention_heads " +
                  Twine(config.heads));

  if (r.find("head_dim")) {
    if (!r.optionalInt("head_dim", kMaxDim, config.headDim))
      return false;
  } else {
    if (config.hidden % config.heads != 0)
      return r.fail("field \"hidden_size\": " + Twine(config.hidden) +
                    " is not divisible by num_attention_heads " +
                    Twine(config.heads) + " and no \"head_dim\" is given");
    config.headDim = config.hidden / config.heads;
  }

  if (const json::Value *scaling = r.find("rope_scaling")) {
    std::string type = "of unknown type";
    if (scaling->isObject()) {
      const json::Value *t = scaling->get("rope_type");
      if (!t)
        t = scaling->get("type");
      if (t && t->isString())
        type = json::quote(t->string);
    }
    // Newer transformers write {"rope_type": "default"} for plain RoPE.
    if (type != "\"default\"")
      return r.fail("field \"rope_scaling\": RoPE scaling " + type +
                    " is not implemented");
  }
  double partial = 1.0;
  if (!r.number("rope_theta", /*required=*/false, /*positive=*/true,
                config.ropeTheta) ||
      !r.number("partial_rotary_factor", /*required=*/false,
                /*positive=*/true, partial))
    return false;
  StringRef partialField =
      r.find("partial_rotary_factor") ? "partial_rotary_factor" : "";
  // transformers 5 moved the RoPE settings into one object.
  if (const json::Value *rope = r.find("rope_parameters")) {
    if (!rope->isObject())
      return r.fail("field \"rope_parameters\" must be an object, got " +
                    describe(*rope));
    ConfigReader nested(path.str(), *rope, error, "rope_parameters.");
    std::string type = "default";
    if (!nested.string("rope_type", type))
      return false;
    if (type != "default")
      return r.fail("field \"rope_parameters.rope_type\": RoPE scaling " +
                    json::quote(type) + " is not implemented");
    if (!nested.number("rope_theta", /*required=*/false, /*positive=*/true,
                       config.ropeTheta))
      return false;
    if (nested.find("partial_rotary_factor") && partialField.empty()) {
      if (!nested.number("partial_rotary_factor", /*required=*/false,
                         /*positive=*/true, partial))
        return false;
      partialField = "rope_parameters.partial_rotary_factor";
    }
  }
  if (partialField.empty())
    partialField = "head_dim";
  if (partial > 1.0)
    return r.fail("field \"" + partialField + "\" must be in (0, 1], got " +
                  formatNumber(partial));
  // transformers truncates: int(head_dim * partial_rotary_factor).
  config.rotaryDim = static_cast<int64_t>(config.headDim * partial);
  if (config.rotaryDim < 2 || config.rotaryDim % 2 != 0)
    return r.fail("field \"" + partialField + "\": the rotary dimension " +
                  Twine(config.rotaryDim) + " (head_dim " +
                  Twine(config.headDim) +
                  " x partial_rotary_factor) must be even and at least 2");

  if (!r.boolean("tie_word_embeddings", config.tiedEmbeddings))
    return false;

  std::string act = "silu";
  if (!r.string("hidden_act", act))
    return false;
  if (act != "silu")
    return r.fail("field \"hidden_act\": activation " + json::quote(act) +
                  " is not implemented (only \"silu\")");
  bool mlpBias = false;
  if (!r.boolean("mlp_bias", mlpBias))
    return false;
  if (mlpBias)
    return r.fail("field \"mlp_bias\": MLP biases are not implemented");

  if (isLlama) {
    bool bias = false;
    if (!r.boolean("attention_bias", bias))
      return false;
    // LlamaAttention gives all four projections a bias together.
    config.qkvBias = config.oBias = bias;
  }
  if (isQwen2)
    config.qkvBias = true;

  if (isMistral) {
    // MistralConfig defaults to a 4096-token window; only an explicit null
    // turns it off.
    if (!root.get("sliding_window"))
      return r.fail("field \"sliding_window\" is absent, which transformers "
                    "reads as 4096; sliding-window attention is not "
                    "implemented (null disables it)");
    if (const json::Value *window = r.find("sliding_window"))
      return r.fail("field \"sliding_window\": sliding-window attention (" +
                    describe(*window) + ") is not implemented");
  }
  if (isQwen2) {
    bool useWindow = false;
    if (!r.boolean("use_sliding_window", useWindow))
      return false;
    if (useWindow)
      return r.fail("field \"use_sliding_window\": sliding-window attention "
                    "is not implemented");
  }
  return true;
}

/// `path` relative to `dir` when both are absolute and share a root, with
/// ".." where needed; else `path` unchanged. Both must be real paths (no
/// symlinks), so that ".." means the parent it appears to.
static std::string relativeTo(StringRef path, StringRef dir) {
  namespace sp = llvm::sys::path;
  SmallVector<StringRef> p(sp::begin(path), sp::end(path));
  SmallVector<StringRef> d(sp::begin(dir), sp::end(dir));
  if (p.empty() || d.empty() || p.front() != d.front())
    return path.str();
  size_t common = 0;
  while (common < p.size() && common < d.size() && p[common] == d[common])
    ++common;
  SmallString<256> out;
  for (size_t i = common; i < d.size(); ++i)
    sp::append(out, "..");
  for (size_t i = common; i < p.size(); ++i)
    sp::append(out, p[i]);
  return out.str().str();
}

/// Element type of a stored float dtype; null for the others.
static Type floatType(MLIRContext *ctx, params::DType dtype) {
  switch (dtype) {
  case params::DType::F16:
    return Float16Type::get(ctx);
  case params::DType::BF16:
    return BFloat16Type::get(ctx);
  case params::DType::F32:
    return Float32Type::get(ctx);
  case params::DType::F64:
    return Float64Type::get(ctx);
  default:
    return {};
  }
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

namespace {
/// Tensor names of the Hugging Face Llama family.
struct Names {
  static std::string layer(int64_t i, StringRef rest) {
    return ("model.layers." + Twine(i) + "." + rest).str();
  }
  static constexpr const char *embed = "model.embed_tokens.weight";
  static constexpr const char *norm = "model.norm.weight";
  static constexpr const char *lmHead = "lm_head.weight";
};

/// Builds @forward from a validated config and checked parameters.
class ForwardBuilder {
public:
  ForwardBuilder(MLIRContext *ctx, const ModelConfig &config,
                 const params::ParamStore &store)
      : ctx(ctx), b(ctx), config(config), store(store),
        f32(Float32Type::get(ctx)) {}

  void build(ModuleOp module) {
    int64_t hkv = config.kvHeads, d = config.headDim;
    Type i64 = IntegerType::get(ctx, 64);
    auto dyn = ShapedType::kDynamic;
    auto tokensType = RankedTensorType::get({dyn, dyn}, i64);
    auto cacheType = RankedTensorType::get({dyn, dyn, hkv, d}, f32);
    auto logitsType = RankedTensorType::get({dyn, dyn, config.vocab}, f32);

    SmallVector<Type> inputs{tokensType, tokensType};
    SmallVector<Type> results{logitsType};
    for (int64_t i = 0; i < config.layers; ++i) {
      inputs.append({cacheType, cacheType});
      results.append({cacheType, cacheType});
    }
    b.setInsertionPointToEnd(module.getBody());
    auto func = func::FuncOp::create(b, loc("forward"), "forward",
                                     b.getFunctionType(inputs, results));
    Block *entry = func.addEntryBlock();
    entry->getArgument(0).setLoc(loc("tokens"));
    entry->getArgument(1).setLoc(loc("positions"));
    for (int64_t i = 0; i < config.layers; ++i) {
      entry->getArgument(2 + 2 * i).setLoc(loc("k_cache_" + Twine(i)));
      entry->getArgument(3 + 2 * i).setLoc(loc("v_cache_" + Twine(i)));
    }
    b.setInsertionPointToStart(entry);
    tokens = entry->getArgument(0);
    positions = entry->getArgument(1);

    Location prologue = loc("forward");
    Value c0 = arith::ConstantIndexOp::create(b, prologue, 0);
    Value c1 = arith::ConstantIndexOp::create(b, prologue, 1);
    batch = tensor::DimOp::create(b, prologue, tokens, c0);
    seq = tensor::DimOp::create(b, prologue, tokens, c1);
    // All batch rows decode in lockstep, so row 0's first position is where
    // this step writes into every cache.
    Value first = tensor::ExtractOp::create(b, loc("positions"), positions,
                                            ValueRange{c0, c0});
    pos = arith::IndexCastOp::create(b, prologue, b.getIndexType(), first);
    end = arith::AddIOp::create(b, prologue, pos, seq);

    Location embedLoc = loc("model.embed_tokens");
    Value table = param(Names::embed, embedLoc);
    Value h =
        EmbedOp::create(b, embedLoc, activation(config.hidden), table, tokens);

    SmallVector<Value> returned{Value()};
    for (int64_t i = 0; i < config.layers; ++i) {
      Operation *before = &entry->back();
      Value kCache, vCache;
      h = buildLayer(i, h, entry->getArgument(2 + 2 * i),
                     entry->getArgument(3 + 2 * i), kCache, vCache);
      returned.append({kCache, vCache});
      auto layerAttr = b.getI64IntegerAttr(i);
      for (Operation &op :
           llvm::make_range(std::next(before->getIterator()), entry->end()))
        op.setAttr(AttnDialect::kLayerAttrName, layerAttr);
    }

    Value normed = rmsNorm(h, Names::norm, loc("model.norm"));
    Location headLoc = loc("lm_head");
    Value head = config.tiedEmbeddings ? table : param(Names::lmHead, headLoc);
    returned[0] =
        LinearOp::create(b, headLoc, logitsType, normed, head, Value());
    func::ReturnOp::create(b, loc("forward"), returned);
  }

  /// The training partition of the attention input projections (see
  /// HFImportOptions::training): what an autograd system splits out of the
  /// model for them, with X_i the input of layer i's projections (after
  /// input_layernorm).
  void buildTraining(ModuleOp module) {
    int64_t hq = config.heads, hkv = config.kvHeads, d = config.headDim;
    struct Proj {
      const char *name;
      int64_t out;
    };
    const Proj projs[] = {{"self_attn.q_proj", hq * d},
                          {"self_attn.k_proj", hkv * d},
                          {"self_attn.v_proj", hkv * d}};
    Type xType = activation(config.hidden);
    auto savedName = [](int64_t i) {
      return Names::layer(i, "self_attn.qkv_input");
    };
    auto layerAttr = [&](int64_t i) { return b.getI64IntegerAttr(i); };
    auto tagLayer = [&](Block *block, Operation *before, int64_t i) {
      auto begin = before ? std::next(before->getIterator()) : block->begin();
      for (Operation &op : llvm::make_range(begin, block->end()))
        op.setAttr(AttnDialect::kLayerAttrName, layerAttr(i));
    };
    auto savedAttrs = [&](int64_t i) {
      return b.getDictionaryAttr(
          {b.getNamedAttr("attn.saved", b.getStringAttr(savedName(i))),
           b.getNamedAttr(AttnDialect::kLayerAttrName, layerAttr(i))});
    };

    // @qkv_forward(X_0 .. X_{L-1}) -> (Q_0, K_0, V_0, ..., X_0 .. X_{L-1}).
    SmallVector<Type> fwdIn(config.layers, xType), fwdOut;
    for (int64_t i = 0; i < config.layers; ++i)
      for (const Proj &p : projs)
        fwdOut.push_back(activation(p.out));
    fwdOut.append(config.layers, xType);
    b.setInsertionPointToEnd(module.getBody());
    auto fwd = func::FuncOp::create(b, loc("qkv_forward"), "qkv_forward",
                                    b.getFunctionType(fwdIn, fwdOut));
    // A name, not a symbol reference: a reference would count as a use of
    // @qkv_backward, which passes read as a call.
    fwd->setAttr("attn.backward", b.getStringAttr("qkv_backward"));
    Block *entry = fwd.addEntryBlock();
    b.setInsertionPointToStart(entry);
    SmallVector<Value> outs, saved;
    for (int64_t i = 0; i < config.layers; ++i) {
      Value x = entry->getArgument(i);
      x.setLoc(loc(savedName(i)));
      Operation *before = entry->empty() ? nullptr : &entry->back();
      for (const Proj &p : projs)
        outs.push_back(linear(x, i, p.name, p.out, /*bias=*/false));
      tagLayer(entry, before, i);
      saved.push_back(x);
    }
    unsigned numOuts = outs.size();
    outs.append(saved);
    func::ReturnOp::create(b, loc("qkv_forward"), outs);
    for (int64_t i = 0; i < config.layers; ++i)
      fwd.setResultAttrs(numOuts + i, savedAttrs(i));

    // @qkv_backward(X_0 .. X_{L-1}, dQ_0, dK_0, dV_0, ...)
    //   -> (dX_0, dW_q0, dW_k0, dW_v0, ...).
    SmallVector<Type> bwdIn(config.layers, xType), bwdOut;
    for (int64_t i = 0; i < config.layers; ++i) {
      bwdOut.push_back(xType);
      for (const Proj &p : projs) {
        bwdIn.push_back(activation(p.out));
        bwdOut.push_back(RankedTensorType::get({p.out, config.hidden}, f32));
      }
    }
    b.setInsertionPointToEnd(module.getBody());
    auto bwd = func::FuncOp::create(b, loc("qkv_backward"), "qkv_backward",
                                    b.getFunctionType(bwdIn, bwdOut));
    entry = bwd.addEntryBlock();
    b.setInsertionPointToStart(entry);
    SmallVector<Value> grads;
    for (int64_t i = 0; i < config.layers; ++i) {
      bwd.setArgAttrs(i, savedAttrs(i));
      Value x = entry->getArgument(i);
      x.setLoc(loc(savedName(i)));
      Operation *before = entry->empty() ? nullptr : &entry->back();
      Value dx;
      SmallVector<Value> dws;
      for (auto [j, p] : llvm::enumerate(projs)) {
        std::string prefix = Names::layer(i, p.name);
        Value dy = entry->getArgument(config.layers + 3 * i + j);
        dy.setLoc(loc(prefix + ".grad_output"));
        Location opLoc = loc(prefix);
        Value w = param(prefix + ".weight", opLoc);
        dws.push_back(LinearGradWeightOp::create(
            b, opLoc, RankedTensorType::get({p.out, config.hidden}, f32), dy,
            x));
        // X feeds all three projections: its gradient is their sum.
        Value part = LinearGradInputOp::create(b, opLoc, xType, dy, w);
        dx = dx ? arith::AddFOp::create(b, opLoc, dx, part).getResult() : part;
      }
      tagLayer(entry, before, i);
      grads.push_back(dx);
      grads.append(dws);
    }
    func::ReturnOp::create(b, loc("qkv_backward"), grads);
  }

private:
  Location loc(const Twine &name) {
    return NameLoc::get(StringAttr::get(ctx, name));
  }

  RankedTensorType activation(int64_t features) {
    return RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic, features}, f32);
  }
  RankedTensorType perHead(int64_t heads) {
    return RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic, heads, config.headDim},
        f32);
  }

  /// The parameter at its stored type, then converted to f32 for compute.
  Value param(StringRef name, Location opLoc) {
    const params::ParamRef *ref = store.lookup(name.str());
    auto type = RankedTensorType::get(ref->shape, floatType(ctx, ref->dtype));
    Value v = ParamOp::create(b, loc(name), type, name);
    auto f32Type = RankedTensorType::get(ref->shape, f32);
    unsigned width = type.getElementType().getIntOrFloatBitWidth();
    if (width < 32)
      v = arith::ExtFOp::create(b, opLoc, f32Type, v);
    else if (width > 32)
      v = arith::TruncFOp::create(b, opLoc, f32Type, v);
    return v;
  }

  Value rmsNorm(Value x, StringRef weightName, Location opLoc) {
    Value w = param(weightName, opLoc);
    return RmsNormOp::create(b, opLoc, x.getType(), x, w,
                             b.getF64FloatAttr(config.rmsNormEps));
  }

  Value linear(Value x, int64_t layer, StringRef proj, int64_t out, bool bias) {
    std::string prefix = Names::layer(layer, proj);
    Location opLoc = loc(prefix);
    Value w = param(prefix + ".weight", opLoc);
    Value bv = bias ? param(prefix + ".bias", opLoc) : Value();
    return LinearOp::create(b, opLoc, activation(out), x, w, bv);
  }

  /// [B, S, heads·D] -> [B, S, heads, D].
  Value splitHeads(Value x, int64_t heads, Location opLoc) {
    SmallVector<ReassociationIndices> groups{{0}, {1}, {2, 3}};
    SmallVector<OpFoldResult> shape{batch, seq, b.getIndexAttr(heads),
                                    b.getIndexAttr(config.headDim)};
    return tensor::ExpandShapeOp::create(b, opLoc, perHead(heads), x, groups,
                                         shape);
  }

  Value rope(Value x, Location opLoc) {
    return RopeOp::create(b, opLoc, x.getType(), x, positions,
                          b.getF64FloatAttr(config.ropeTheta),
                          b.getI64IntegerAttr(config.rotaryDim),
                          RopePairingAttr::get(ctx, RopePairing::RotateHalf),
                          /*base_dim=*/IntegerAttr(),
                          /*frequencies=*/DenseI64ArrayAttr());
  }

  /// The valid prefix [0, pos + S) of an updated cache.
  Value validPrefix(Value updated, Location opLoc) {
    SmallVector<OpFoldResult> offsets(4, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes{batch, end, b.getIndexAttr(config.kvHeads),
                                    b.getIndexAttr(config.headDim)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(
        b, opLoc, cast<RankedTensorType>(updated.getType()), updated, offsets,
        sizes, strides);
  }

  Value buildLayer(int64_t i, Value h, Value kCacheIn, Value vCacheIn,
                   Value &kCacheOut, Value &vCacheOut) {
    int64_t hq = config.heads, hkv = config.kvHeads, d = config.headDim;
    Location attnLoc = loc(Names::layer(i, "self_attn"));

    Value x = rmsNorm(h, Names::layer(i, "input_layernorm.weight"),
                      loc(Names::layer(i, "input_layernorm")));
    Value q = linear(x, i, "self_attn.q_proj", hq * d, config.qkvBias);
    Value k = linear(x, i, "self_attn.k_proj", hkv * d, config.qkvBias);
    Value v = linear(x, i, "self_attn.v_proj", hkv * d, config.qkvBias);
    q = rope(splitHeads(q, hq, attnLoc), attnLoc);
    k = rope(splitHeads(k, hkv, attnLoc), attnLoc);
    v = splitHeads(v, hkv, attnLoc);

    kCacheOut =
        CacheUpdateOp::create(b, attnLoc, kCacheIn.getType(), kCacheIn, k, pos);
    vCacheOut =
        CacheUpdateOp::create(b, attnLoc, vCacheIn.getType(), vCacheIn, v, pos);
    Value keys = validPrefix(kCacheOut, attnLoc);
    Value values = validPrefix(vCacheOut, attnLoc);

    // head_dim ** -0.5, as transformers computes it (1/sqrt may differ in
    // the last bit).
    double scale = std::pow(static_cast<double>(d), -0.5);
    Value o = AttentionOp::create(b, attnLoc, perHead(hq), q, keys, values,
                                  b.getF64FloatAttr(scale), b.getUnitAttr());
    SmallVector<ReassociationIndices> groups{{0}, {1}, {2, 3}};
    o = tensor::CollapseShapeOp::create(b, attnLoc, activation(hq * d), o,
                                        groups);
    o = linear(o, i, "self_attn.o_proj", config.hidden, config.oBias);
    Location blockLoc = loc("model.layers." + Twine(i));
    h = arith::AddFOp::create(b, blockLoc, h, o);

    Value y = rmsNorm(h, Names::layer(i, "post_attention_layernorm.weight"),
                      loc(Names::layer(i, "post_attention_layernorm")));
    std::string mlp = Names::layer(i, "mlp");
    Location mlpLoc = loc(mlp);
    Value gate = param(mlp + ".gate_proj.weight", mlpLoc);
    Value up = param(mlp + ".up_proj.weight", mlpLoc);
    Value down = param(mlp + ".down_proj.weight", mlpLoc);
    y = MlpOp::create(b, mlpLoc, y.getType(), y, gate, up, down);
    return arith::AddFOp::create(b, blockLoc, h, y);
  }

  MLIRContext *ctx;
  OpBuilder b;
  const ModelConfig &config;
  const params::ParamStore &store;
  Type f32;
  Value tokens, positions, batch, seq, pos, end;
};
} // namespace

/// Every tensor the config implies, with the shape it implies.
static std::vector<std::pair<std::string, std::vector<int64_t>>>
expectedTensors(const ModelConfig &c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  int64_t qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim;
  out.push_back({Names::embed, {c.vocab, c.hidden}});
  for (int64_t i = 0; i < c.layers; ++i) {
    auto add = [&](StringRef rest, std::vector<int64_t> shape) {
      out.push_back({Names::layer(i, rest), std::move(shape)});
    };
    add("input_layernorm.weight", {c.hidden});
    add("self_attn.q_proj.weight", {qDim, c.hidden});
    add("self_attn.k_proj.weight", {kvDim, c.hidden});
    add("self_attn.v_proj.weight", {kvDim, c.hidden});
    if (c.qkvBias) {
      add("self_attn.q_proj.bias", {qDim});
      add("self_attn.k_proj.bias", {kvDim});
      add("self_attn.v_proj.bias", {kvDim});
    }
    add("self_attn.o_proj.weight", {c.hidden, qDim});
    if (c.oBias)
      add("self_attn.o_proj.bias", {c.hidden});
    add("post_attention_layernorm.weight", {c.hidden});
    add("mlp.gate_proj.weight", {c.intermediate, c.hidden});
    add("mlp.up_proj.weight", {c.intermediate, c.hidden});
    add("mlp.down_proj.weight", {c.hidden, c.intermediate});
  }
  out.push_back({Names::norm, {c.hidden}});
  if (!c.tiedEmbeddings)
    out.push_back({Names::lmHead, {c.vocab, c.hidden}});
  return out;
}

/// The archives of a checkpoint, opened header-only into `store`, and the
/// paths the module lists for them.
static bool openArchives(StringRef dir, StringRef outputDir,
                         params::ParamStore &store, std::string &primary,
                         bool &sharded, std::vector<std::string> &listed,
                         std::string &error) {
  SmallString<256> single(dir), index(dir);
  llvm::sys::path::append(single, "model.safetensors");
  llvm::sys::path::append(index, "model.safetensors.index.json");
  std::vector<std::string> files;
  if (llvm::sys::fs::exists(single)) {
    primary = single.str().str();
    sharded = false;
    files.push_back(primary);
  } else if (llvm::sys::fs::exists(index)) {
    primary = index.str().str();
    sharded = true;
  } else {
    error =
        dir.str() + ": no model.safetensors or model.safetensors.index.json";
    return false;
  }
  // The store checks the index's promises and every shard's header.
  if (!store.addArchive(primary, error))
    return false;
  if (sharded) {
    // Hugging Face sorts the weight map by tensor name, which puts the last
    // shard (lm_head) first; shard file names sort in shard order.
    std::map<std::string, std::string> weightMap;
    if (!params::readShardIndex(primary, weightMap, error))
      return false;
    std::set<std::string> shards;
    for (const auto &entry : weightMap)
      shards.insert(entry.second);
    for (const std::string &shard : shards) {
      SmallString<256> path(dir);
      llvm::sys::path::append(path, shard);
      files.push_back(path.str().str());
    }
  }

  SmallString<256> realOut;
  if (!outputDir.empty()) {
    if (std::error_code ec = llvm::sys::fs::real_path(outputDir, realOut)) {
      error = outputDir.str() +
              ": cannot resolve the output directory: " + ec.message();
      return false;
    }
  }
  for (const std::string &file : files) {
    SmallString<256> real;
    if (std::error_code ec = llvm::sys::fs::real_path(file, real)) {
      error = file + ": cannot resolve path: " + ec.message();
      return false;
    }
    listed.push_back(outputDir.empty() ? real.str().str()
                                       : relativeTo(real, realOut));
  }
  return true;
}

/// Every tensor the config implies must exist with the implied shape and a
/// float dtype, so that the IR we build verifies and later passes can trust
/// the shapes.
static bool checkTensors(const ModelConfig &config,
                         const params::ParamStore &store, StringRef primary,
                         bool sharded, ArrayRef<std::string> listed,
                         std::string &error) {
  for (const auto &[name, shape] : expectedTensors(config)) {
    const params::ParamRef *ref = store.lookup(name);
    if (!ref) {
      error = primary.str() + ": missing tensor " + json::quote(name);
      if (sharded) {
        error += " (in none of its shards: ";
        for (const auto &[i, file] : llvm::enumerate(listed))
          error += (i ? ", " : "") + llvm::sys::path::filename(file).str();
        error += ")";
      }
      return false;
    }
    if (ref->shape != shape) {
      error = ref->source + ": tensor " + json::quote(name) + " has shape " +
              shapeString(ref->shape) + " but the config implies " +
              shapeString(shape);
      return false;
    }
    if (!params::isFloat(ref->dtype)) {
      error = ref->source + ": tensor " + json::quote(name) + " has dtype " +
              std::string(params::dtypeName(ref->dtype)) +
              ", not a floating-point dtype";
      return false;
    }
  }
  return true;
}

static DictionaryAttr sourceAttr(MLIRContext *ctx, const ModelConfig &c) {
  Builder b(ctx);
  SmallVector<NamedAttribute> fields{
      b.getNamedAttr("architecture", b.getStringAttr(c.architecture)),
      b.getNamedAttr("hidden_size", b.getI64IntegerAttr(c.hidden)),
      b.getNamedAttr("intermediate_size", b.getI64IntegerAttr(c.intermediate)),
      b.getNamedAttr("num_attention_heads", b.getI64IntegerAttr(c.heads)),
      b.getNamedAttr("num_key_value_heads", b.getI64IntegerAttr(c.kvHeads)),
      b.getNamedAttr("head_dim", b.getI64IntegerAttr(c.headDim)),
      b.getNamedAttr("num_hidden_layers", b.getI64IntegerAttr(c.layers)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(c.vocab)),
      b.getNamedAttr("rms_norm_eps", b.getF64FloatAttr(c.rmsNormEps)),
      b.getNamedAttr("rope_theta", b.getF64FloatAttr(c.ropeTheta)),
      b.getNamedAttr("tie_word_embeddings", b.getBoolAttr(c.tiedEmbeddings))};
  if (!c.modelType.empty())
    fields.push_back(
        b.getNamedAttr("model_type", b.getStringAttr(c.modelType)));
  return b.getDictionaryAttr(fields);
}

FailureOr<OwningOpRef<ModuleOp>>
mlir::attn::importHuggingFace(MLIRContext *ctx, StringRef dir,
                              const HFImportOptions &options,
                              std::string &error) {
  if (!llvm::sys::fs::exists(dir)) {
    error = dir.str() + ": no such checkpoint directory";
    return failure();
  }
  if (!llvm::sys::fs::is_directory(dir)) {
    error = dir.str() + ": not a directory (expected a checkpoint directory "
                        "with config.json)";
    return failure();
  }
  SmallString<256> configPath(dir);
  llvm::sys::path::append(configPath, "config.json");
  std::string configText;
  if (!readSmallFile(configPath, configText, error))
    return failure();
  return importHuggingFaceConfig(ctx, dir, configText, configPath, options,
                                 error);
}

FailureOr<OwningOpRef<ModuleOp>> mlir::attn::importHuggingFaceConfig(
    MLIRContext *ctx, StringRef dir, StringRef configText,
    StringRef configName, const HFImportOptions &options, std::string &error) {
  ModelConfig config;
  if (!parseConfig(configText, configName, config, error))
    return failure();

  params::ParamStore store(/*headerOnly=*/true);
  std::string primary;
  bool sharded = false;
  std::vector<std::string> listed;
  if (!openArchives(dir, options.outputDir, store, primary, sharded, listed,
                    error) ||
      !checkTensors(config, store, primary, sharded, listed, error))
    return failure();

  // The training partition has no bias gradient op to express dB = Σ dY.
  if (options.training && config.qkvBias) {
    error = (Twine(dir) + "/config.json: --training: the Q/K/V projections "
                          "have biases (" +
             config.architecture +
             "), whose gradients the training partition does not express")
                .str();
    return failure();
  }

  ctx->loadDialect<AttnDialect, func::FuncDialect, tensor::TensorDialect,
                   arith::ArithDialect>();
  OwningOpRef<ModuleOp> module(ModuleOp::create(UnknownLoc::get(ctx)));
  Builder b(ctx);
  SmallVector<Attribute> paths;
  for (const std::string &p : listed)
    paths.push_back(b.getStringAttr(p));
  (*module)->setAttr(AttnDialect::kParamsAttrName, b.getArrayAttr(paths));
  (*module)->setAttr("attn.source", sourceAttr(ctx, config));
  if (options.training)
    ForwardBuilder(ctx, config, store).buildTraining(*module);
  else
    ForwardBuilder(ctx, config, store).build(*module);

  // The checks above should make this unreachable; if a verifier disagrees,
  // say so rather than hand out invalid IR.
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &diag) {
      if (diagnostics.empty()) {
        llvm::raw_string_ostream os(diagnostics);
        os << diag.getLocation() << ": " << diag.str();
      }
      return success();
    });
    if (failed(verify(*module))) {
      error = dir.str() +
              ": internal error: the imported module does not "
              "verify: " +
              diagnostics;
      return failure();
    }
  }
  return module;
}

void mlir::attn::printImportedModule(ModuleOp module, raw_ostream &os) {
  os << "module";
  if (!module->getAttrs().empty()) {
    os << " attributes ";
    module->getAttrDictionary().print(os);
  }
  os << " {\n";
  // Printed one by one, nested ops print their locations inline (no
  // aliases) and the module's own location is left out.
  OpPrintingFlags flags;
  flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  for (Operation &op : *module.getBody()) {
    std::string text;
    llvm::raw_string_ostream s(text);
    op.print(s, flags);
    StringRef rest(text);
    while (!rest.empty()) {
      auto [line, tail] = rest.split('\n');
      os << (line.empty() ? "" : "  ") << line << "\n";
      rest = tail;
    }
  }
  os << "}\n";
}
