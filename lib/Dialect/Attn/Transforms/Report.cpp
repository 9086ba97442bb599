//===- Report.cpp - attn-report: bytes and FLOPs per layer ----------------===//
//
// The formulas are stated in the pass description (Passes.td), which is the
// documentation users read; keep the two in step.
//
//===----------------------------------------------------------------------===//

#include "attenuate/Dialect/Attn/IR/AttnOps.h"
#include "attenuate/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

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

  void add(const Row &o) {
    paramBytes += o.paramBytes;
    kvBytesPerToken += o.kvBytesPerToken;
    prefillFlopsPerToken += o.prefillFlopsPerToken;
    decodeFlopsPerToken += o.decodeFlopsPerToken;
    attentionOps += o.attentionOps;
  }
};

struct FunctionReport {
  std::string name;
  std::map<int64_t, Row> layers; // by attn.layer
  Row other;
  Row total;
  SmallVector<std::string> warnings;
};

uint64_t elementBytes(Type t) {
  return (t.getIntOrFloatBitWidth() + 7) / 8;
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

    std::string error;
    auto out = openOutputFile(output, &error);
    if (!out) {
      mlir::emitError(getOperation().getLoc())
          << "attn-report: cannot open option 'output' file '" << output
          << "': " << error;
      return signalPassFailure();
    }
    if (fmt == "json")
      printJson(out->os(), reports);
    else
      printText(out->os(), reports);
    out->keep();
    markAllAnalysesPreserved();
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
      } else if (auto c = dyn_cast<CacheUpdateOp>(op)) {
        auto t = cast<RankedTensorType>(c.getCache().getType());
        int64_t h = t.getDimSize(2), d = t.getDimSize(3);
        if (ShapedType::isDynamic(h) || ShapedType::isDynamic(d)) {
          op->emitError("attn-report: cache heads and head dim must be "
                        "static to count KV bytes");
          return WalkResult::interrupt();
        }
        rowFor(op).kvBytesPerToken +=
            static_cast<uint64_t>(h * d) * elementBytes(t.getElementType());
      }
      return WalkResult::advance();
    });
    if (res.wasInterrupted())
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
      os << llvm::format("%-8s %16s %12s %22s %22s\n", "layer", "params(B)",
                         "kv(B/token)", "prefill FLOPs/token",
                         "decode FLOPs/token");
      auto line = [&](StringRef name, const Row &row) {
        os << llvm::format("%-8s %16llu %12llu %22llu %22llu\n",
                           name.str().c_str(),
                           (unsigned long long)row.paramBytes,
                           (unsigned long long)row.kvBytesPerToken,
                           (unsigned long long)row.prefillFlopsPerToken,
                           (unsigned long long)row.decodeFlopsPerToken);
      };
      for (const auto &[layer, row] : r.layers)
        line(std::to_string(layer), row);
      line("other", r.other);
      line("total", r.total);
    }
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
      llvm::json::Array layers;
      for (const auto &[layer, row] : r.layers) {
        llvm::json::Object o = rowJson(row);
        o["layer"] = layer;
        layers.push_back(std::move(o));
      }
      functions.push_back(llvm::json::Object{{"function", r.name},
                                             {"layers", std::move(layers)},
                                             {"other", rowJson(r.other)},
                                             {"total", rowJson(r.total)}});
    }
    llvm::json::Object root{{"seq_len", static_cast<int64_t>(seqLen)},
                            {"functions", std::move(functions)}};
    if (!label.empty())
      root["label"] = label;
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  }
};

} // namespace
