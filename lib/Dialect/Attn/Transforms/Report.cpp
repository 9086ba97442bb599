//===- Report.cpp - attn-report: bytes and FLOPs per layer ----------------===//
//
// The formulas are stated in the pass description (Passes.td), which is the
// documentation users read; keep the two in step.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"
#include "attenuate/Support/AtomicFile.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNREPORTPASS
#include "attenuate/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

// Tool-wide default for the pass's `format` option, as the interface
// `attn-opt m.mlir --attn-report --attn-report-format=json` promises.
static llvm::cl::opt<std::string>
    clReportFormat("attn-report-format",
                   llvm::cl::desc("Default output format of --attn-report "
                                  "(text or json)"),
                   llvm::cl::init(""));

namespace {

struct Row {
  uint64_t paramBytes = 0;
  uint64_t kvBytesPerToken = 0;
  uint64_t prefillFlopsPerToken = 0;
  uint64_t decodeFlopsPerToken = 0;
  uint64_t attentionOps = 0;
  // Training graphs: bytes per token of what the forward saves for the
  // backward (fractional: PAMM's generators are shared by the batch), the
  // same activations uncompressed, and PAMM's two parts.
  double savedBytesPerToken = 0;
  double savedDenseBytesPerToken = 0;
  double savedGeneratorBytesPerToken = 0;
  double savedIndexScaleBytesPerToken = 0;

  void add(const Row &o) {
    paramBytes += o.paramBytes;
    kvBytesPerToken += o.kvBytesPerToken;
    prefillFlopsPerToken += o.prefillFlopsPerToken;
    decodeFlopsPerToken += o.decodeFlopsPerToken;
    attentionOps += o.attentionOps;
    savedBytesPerToken += o.savedBytesPerToken;
    savedDenseBytesPerToken += o.savedDenseBytesPerToken;
    savedGeneratorBytesPerToken += o.savedGeneratorBytesPerToken;
    savedIndexScaleBytesPerToken += o.savedIndexScaleBytesPerToken;
  }
};

struct FunctionReport {
  std::string name;
  std::map<int64_t, Row> layers; // by attn.layer
  Row other;
  Row total;
  SmallVector<std::string> warnings;
  /// Whether results carry attn.saved (a training forward).
  bool training = false;
};

constexpr StringLiteral kSavedAttr = "attn.saved";

uint64_t elementBytes(Type t) {
  return (t.getIntOrFloatBitWidth() + 7) / 8;
}

/// Average bytes per token of a KIVI cache of `h` heads of `d` values at
/// sequence length `s`: codes (bits/8 per value) and fp16 scale and zero per
/// group for the quantized tokens, `eb` bytes per value for the rest (the
/// full-precision window; keys keep up to window + group - 1 tokens).
uint64_t kiviBytesPerToken(KvQuantizeOp q, int64_t h, int64_t d, uint64_t eb,
                           uint64_t s) {
  int64_t w = q.getWindow(), g = q.getGroup(), bits = q.getBits();
  int64_t len = static_cast<int64_t>(s);
  int64_t old = std::max<int64_t>(len - w, 0);
  bool channel = q.getAxis() == "channel";
  int64_t quantized = channel ? old / g * g : old;
  // Per quantized token: codes, plus 2 fp16 per group member share.
  double perQ = static_cast<double>(h * d * bits) / 8.0 +
                (channel ? 4.0 * h * d / g : 4.0 * h * (d / g));
  double perFp = static_cast<double>(h * d) * static_cast<double>(eb);
  double total = quantized * perQ + (len - quantized) * perFp;
  return static_cast<uint64_t>(std::llround(total / std::max<int64_t>(len, 1)));
}

/// The attn.kv_quantize reading cache write `c` (attn-quantize-kv), if any:
/// that cache holds KIVI codes, not dense values.
KvQuantizeOp kivi(CacheUpdateOp c) {
  for (Operation *u : c.getResult().getUsers())
    if (isa<tensor::ExtractSliceOp>(u))
      for (Operation *r : u->getResult(0).getUsers())
        if (auto q = dyn_cast<KvQuantizeOp>(r))
          return q;
  return KvQuantizeOp();
}

uint64_t numElements(RankedTensorType t) {
  uint64_t n = 1;
  for (int64_t d : t.getShape())
    n *= static_cast<uint64_t>(d);
  return n;
}

struct AttnReportPass : mlir::attn::impl::AttnReportPassBase<AttnReportPass> {
  using Base::Base;

  void runOnOperation() override {
    std::string fmt = format;
    if (!format.hasValue() && !clReportFormat.empty())
      fmt = clReportFormat;
    if (fmt != "text" && fmt != "json") {
      mlir::emitError(getOperation().getLoc())
          << "attn-report: option 'format' must be 'text' or 'json', got '"
          << fmt << "'";
      return signalPassFailure();
    }
    if (seqLen < 1) {
      mlir::emitError(getOperation().getLoc())
          << "attn-report: option 'seq-len' must be >= 1, got "
          << static_cast<int64_t>(seqLen);
      return signalPassFailure();
    }

    collectPammRatios();
    std::vector<FunctionReport> reports;
    bool ok = true;
    getOperation().walk([&](func::FuncOp fn) {
      FunctionReport r;
      r.name = fn.getSymName().str();
      if (failed(analyze(fn, r)))
        ok = false;
      else if (!r.layers.empty() || r.total.paramBytes)
        reports.push_back(std::move(r));
    });
    if (!ok)
      return signalPassFailure();

    std::string text;
    {
      llvm::raw_string_ostream os(text);
      if (fmt == "json")
        printJson(os, reports);
      else
        printText(os, reports);
    }
    if (output == "-") {
      llvm::outs() << text;
      llvm::outs().flush();
    } else {
      // Written to a temporary beside the file and renamed, so a failed
      // run keeps the previous report.
      std::string path = output;
      std::string error;
      if (!attenuate::writeFileAtomically(path, text, error)) {
        StringRef reason(error);
        reason.consume_front(path + ": ");
        mlir::emitError(getOperation().getLoc())
            << "attn-report: cannot open option 'output' file '" << path
            << "': " << reason;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }

  /// PAMM ratio of each saved generators value, by attn.saved name: the
  /// backward receives generators as arguments and cannot see the op.
  llvm::StringMap<double> pammRatios;

  void collectPammRatios() {
    pammRatios.clear();
    getOperation().walk([&](func::ReturnOp ret) {
      auto fn = dyn_cast<func::FuncOp>(ret->getParentOp());
      if (!fn)
        return;
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (auto c = v.getDefiningOp<PammCompressOp>())
          if (auto name = fn.getResultAttrOfType<StringAttr>(i, kSavedAttr))
            pammRatios[name.getValue()] = c.getRatio().convertToDouble();
    });
  }

  /// The PAMM ratio behind a generators operand, if it can be traced.
  std::optional<double> pammRatio(Value generators) {
    if (auto c = generators.getDefiningOp<PammCompressOp>())
      return c.getRatio().convertToDouble();
    auto arg = dyn_cast<BlockArgument>(generators);
    if (!arg)
      return std::nullopt;
    auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
    if (!fn || arg.getOwner() != &fn.getBody().front())
      return std::nullopt;
    auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kSavedAttr);
    if (!name)
      return std::nullopt;
    auto it = pammRatios.find(name.getValue());
    if (it == pammRatios.end())
      return std::nullopt;
    return it->second;
  }

  /// Bytes per token of the function's results marked attn.saved.
  LogicalResult countSaved(func::FuncOp fn, FunctionReport &r) {
    auto returns = fn.getOps<func::ReturnOp>();
    if (returns.empty())
      return success();
    func::ReturnOp ret = *returns.begin();
    llvm::DenseSet<Operation *> compressCounted;
    for (unsigned i = 0, e = ret.getNumOperands(); i < e; ++i) {
      Value v = ret.getOperand(i);
      if (!fn.getResultAttrOfType<StringAttr>(i, kSavedAttr))
        continue;
      r.training = true;
      Row &row = [&]() -> Row & {
        if (auto layer = fn.getResultAttrOfType<IntegerAttr>(
                i, AttnDialect::kLayerAttrName))
          return r.layers[layer.getInt()];
        return r.other;
      }();
      auto t = dyn_cast<RankedTensorType>(v.getType());
      if (!t || t.getRank() == 0 || !t.getElementType().isIntOrFloat()) {
        ret.emitError() << "attn-report: saved result #" << i
                        << " must be a tensor [tokens..., features] of "
                           "integers or floats to count bytes per token, got "
                        << v.getType();
        return failure();
      }
      double eb = static_cast<double>(elementBytes(t.getElementType()));
      if (auto c = v.getDefiningOp<PammCompressOp>()) {
        auto x = cast<RankedTensorType>(c.getInput().getType());
        int64_t n = x.getShape().back();
        if (ShapedType::isDynamic(n)) {
          c.emitError("attn-report: the feature dim of a PAMM input must be "
                      "static to count saved bytes");
          return failure();
        }
        if (compressCounted.insert(c).second)
          row.savedDenseBytesPerToken +=
              n * static_cast<double>(elementBytes(x.getElementType()));
        if (v == c.getGenerators()) {
          double bytes = c.getRatio().convertToDouble() * n * eb;
          row.savedGeneratorBytesPerToken += bytes;
          row.savedBytesPerToken += bytes;
        } else {
          row.savedIndexScaleBytesPerToken += eb;
          row.savedBytesPerToken += eb;
        }
        continue;
      }
      int64_t features = t.getShape().back();
      if (ShapedType::isDynamic(features)) {
        ret.emitError() << "attn-report: saved result #" << i
                        << " needs a static feature (last) dim to count "
                           "bytes per token, got "
                        << v.getType();
        return failure();
      }
      row.savedBytesPerToken += features * eb;
      row.savedDenseBytesPerToken += features * eb;
    }
    return success();
  }

  /// FLOPs per token of the batch of the training ops (both columns).
  WalkResult countTraining(Operation *op, Row &row, uint64_t s) {
    uint64_t flops = 0;
    if (auto c = dyn_cast<PammCompressOp>(op)) {
      int64_t n = cast<RankedTensorType>(c.getInput().getType())
                      .getShape()
                      .back();
      if (ShapedType::isDynamic(n)) {
        op->emitError("attn-report: pamm_compress feature dim must be static "
                      "to count FLOPs");
        return WalkResult::interrupt();
      }
      int64_t k = PammCompressOp::numGenerators(
          static_cast<int64_t>(s), c.getRatio().convertToDouble());
      flops = 2ull * static_cast<uint64_t>(n) * static_cast<uint64_t>(k);
    } else {
      // The [out, in] matrix: the result of the weight gradients, the weight
      // operand of the input gradient.
      Value matrix = op->getResult(0);
      if (auto g = dyn_cast<LinearGradInputOp>(op))
        matrix = g.getWeight();
      auto t = cast<RankedTensorType>(matrix.getType());
      if (t.getRank() != 2 || !t.hasStaticShape()) {
        op->emitError() << "attn-report: " << op->getName()
                        << " weight shape must be static to count FLOPs";
        return WalkResult::interrupt();
      }
      uint64_t out = t.getDimSize(0), in = t.getDimSize(1);
      if (auto p = dyn_cast<PammGradWeightOp>(op)) {
        flops = 2 * out;
        if (std::optional<double> ratio = pammRatio(p.getGenerators()))
          flops += static_cast<uint64_t>(
              std::llround(2.0 * *ratio * double(out) * double(in)));
      } else {
        flops = 2 * out * in;
      }
    }
    row.prefillFlopsPerToken += flops;
    row.decodeFlopsPerToken += flops;
    return WalkResult::advance();
  }

  LogicalResult analyze(func::FuncOp fn, FunctionReport &r) {
    auto rowFor = [&](Operation *op) -> Row & {
      if (auto layer = op->getAttrOfType<IntegerAttr>(
              AttnDialect::kLayerAttrName))
        return r.layers[layer.getInt()];
      return r.other;
    };
    llvm::StringSet<> seenParams;
    uint64_t s = static_cast<uint64_t>(seqLen);
    WalkResult res = fn.walk([&](Operation *op) -> WalkResult {
      if (auto p = dyn_cast<ParamOp>(op)) {
        if (!seenParams.insert(p.getName()).second)
          return WalkResult::advance();
        auto t = cast<RankedTensorType>(p.getType());
        rowFor(op).paramBytes += numElements(t) * elementBytes(t.getElementType());
      } else if (auto l = dyn_cast<LinearOp>(op)) {
        auto w = cast<RankedTensorType>(l.getWeight().getType());
        // A dynamic dim would make numElements wrap around silently.
        if (!w.hasStaticShape()) {
          op->emitError("attn-report: linear weight shape must be static to "
                        "count FLOPs");
          return WalkResult::interrupt();
        }
        uint64_t flops = 2ull * numElements(w);
        rowFor(op).prefillFlopsPerToken += flops;
        rowFor(op).decodeFlopsPerToken += flops;
      } else if (auto m = dyn_cast<MlpOp>(op)) {
        if (!llvm::all_of(ValueRange{m.getGate(), m.getUp(), m.getDown()},
                          [](Value w) {
                            return cast<RankedTensorType>(w.getType())
                                .hasStaticShape();
                          })) {
          op->emitError("attn-report: mlp weight shapes must be static to "
                        "count FLOPs");
          return WalkResult::interrupt();
        }
        uint64_t flops = 2ull * (numElements(cast<RankedTensorType>(
                                     m.getGate().getType())) +
                                 numElements(cast<RankedTensorType>(
                                     m.getUp().getType())) +
                                 numElements(cast<RankedTensorType>(
                                     m.getDown().getType())));
        rowFor(op).prefillFlopsPerToken += flops;
        rowFor(op).decodeFlopsPerToken += flops;
      } else if (auto a = dyn_cast<AttentionOp>(op)) {
        auto q = cast<RankedTensorType>(a.getQuery().getType());
        auto v = cast<RankedTensorType>(a.getValue().getType());
        int64_t hq = q.getDimSize(2), dqk = q.getDimSize(3),
                dv = v.getDimSize(3);
        if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(dqk) ||
            ShapedType::isDynamic(dv)) {
          op->emitError("attn-report: attention head count and head dims "
                        "must be static to count FLOPs");
          return WalkResult::interrupt();
        }
        uint64_t perKey = static_cast<uint64_t>(hq) * (dqk + dv);
        Row &row = rowFor(op);
        row.prefillFlopsPerToken +=
            a.getCausal() ? perKey * (s + 1) : 2 * perKey * s;
        row.decodeFlopsPerToken += 2 * perKey * s;
        row.attentionOps += 1;
      } else if (isa<LinearGradWeightOp, LinearGradInputOp, PammGradWeightOp,
                     PammCompressOp>(op)) {
        return countTraining(op, rowFor(op), s);
      } else if (auto c = dyn_cast<CacheUpdateOp>(op)) {
        auto t = cast<RankedTensorType>(c.getCache().getType());
        int64_t h = t.getDimSize(2), d = t.getDimSize(3);
        if (ShapedType::isDynamic(h) || ShapedType::isDynamic(d)) {
          op->emitError("attn-report: cache heads and head dim must be "
                        "static to count KV bytes");
          return WalkResult::interrupt();
        }
        rowFor(op).kvBytesPerToken +=
            kivi(c) ? kiviBytesPerToken(kivi(c), h, d,
                                        elementBytes(t.getElementType()), s)
                    : static_cast<uint64_t>(h * d) *
                          elementBytes(t.getElementType());
      }
      return WalkResult::advance();
    });
    if (res.wasInterrupted() || failed(countSaved(fn, r)))
      return failure();
    for (auto &[_, row] : r.layers)
      r.total.add(row);
    r.total.add(r.other);
    return success();
  }

  void printText(raw_ostream &os, const std::vector<FunctionReport> &reports) {
    for (const FunctionReport &r : reports) {
      os << "attn-report";
      if (!label.empty())
        os << " [" << label << "]";
      os << ": @" << r.name << ", " << r.layers.size() << " layers, seq-len "
         << seqLen << "\n";
      os << llvm::format("%-8s %16s %12s %22s %22s", "layer", "params(B)",
                         "kv(B/token)", "prefill FLOPs/token",
                         "decode FLOPs/token");
      if (r.training)
        os << llvm::format(" %16s", "saved(B/token)");
      os << "\n";
      auto line = [&](StringRef name, const Row &row) {
        os << llvm::format("%-8s %16llu %12llu %22llu %22llu",
                           name.str().c_str(),
                           (unsigned long long)row.paramBytes,
                           (unsigned long long)row.kvBytesPerToken,
                           (unsigned long long)row.prefillFlopsPerToken,
                           (unsigned long long)row.decodeFlopsPerToken);
        if (r.training)
          os << llvm::format(" %16.2f", row.savedBytesPerToken);
        os << "\n";
      };
      for (const auto &[layer, row] : r.layers)
        line(std::to_string(layer), row);
      line("other", r.other);
      line("total", r.total);
      if (r.training)
        printSaved(os, r.total);
    }
  }

  /// Reduction factor of `dense` to `bytes` (0 when nothing is saved).
  static double reduction(double dense, double bytes) {
    return bytes > 0 ? dense / bytes : 0.0;
  }

  void printSaved(raw_ostream &os, const Row &t) {
    os << llvm::format("saved activations: %.2f B/token", t.savedBytesPerToken);
    if (t.savedGeneratorBytesPerToken + t.savedIndexScaleBytesPerToken > 0)
      os << llvm::format(
          " (PAMM generators %.2f + index and scale %.2f); uncompressed "
          "%.2f B/token: %.2fx smaller with index and scale, %.2fx counting "
          "generators only",
          t.savedGeneratorBytesPerToken, t.savedIndexScaleBytesPerToken,
          t.savedDenseBytesPerToken,
          reduction(t.savedDenseBytesPerToken, t.savedBytesPerToken),
          reduction(t.savedDenseBytesPerToken,
                    t.savedGeneratorBytesPerToken));
    os << "\n";
  }

  void printJson(raw_ostream &os, const std::vector<FunctionReport> &reports) {
    auto rowJson = [](const Row &row) {
      return llvm::json::Object{
          {"param_bytes", static_cast<int64_t>(row.paramBytes)},
          {"kv_bytes_per_token", static_cast<int64_t>(row.kvBytesPerToken)},
          {"prefill_flops_per_token",
           static_cast<int64_t>(row.prefillFlopsPerToken)},
          {"decode_flops_per_token",
           static_cast<int64_t>(row.decodeFlopsPerToken)},
          {"attention_ops", static_cast<int64_t>(row.attentionOps)}};
    };
    llvm::json::Array functions;
    for (const FunctionReport &r : reports) {
      auto row = [&](const Row &x) {
        llvm::json::Object o = rowJson(x);
        if (r.training)
          o["saved_bytes_per_token"] = x.savedBytesPerToken;
        return o;
      };
      llvm::json::Array layers;
      for (const auto &[layer, x] : r.layers) {
        llvm::json::Object o = row(x);
        o["layer"] = layer;
        layers.push_back(std::move(o));
      }
      llvm::json::Object f{{"function", r.name},
                           {"layers", std::move(layers)},
                           {"other", row(r.other)},
                           {"total", row(r.total)}};
      if (r.training) {
        const Row &t = r.total;
        f["saved"] = llvm::json::Object{
            {"bytes_per_token", t.savedBytesPerToken},
            {"uncompressed_bytes_per_token", t.savedDenseBytesPerToken},
            {"pamm_generator_bytes_per_token", t.savedGeneratorBytesPerToken},
            {"pamm_index_scale_bytes_per_token",
             t.savedIndexScaleBytesPerToken},
            {"reduction",
             reduction(t.savedDenseBytesPerToken, t.savedBytesPerToken)},
            {"reduction_generators_only",
             reduction(t.savedDenseBytesPerToken,
                       t.savedGeneratorBytesPerToken)}};
      }
      functions.push_back(std::move(f));
    }
    llvm::json::Object root{{"seq_len", static_cast<int64_t>(seqLen)},
                            {"functions", std::move(functions)}};
    if (!label.empty())
      root["label"] = label;
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  }
};

} // namespace
