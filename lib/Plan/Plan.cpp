//===- Plan.cpp - attn-plan v1: JSON writer, reader and checks ------------===//

#include "attenuate/Plan/Plan.h"

#include "attenuate/Params/Json.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace attenuate::plan {

using params::DType;

bool stepArity(std::string_view op, size_t &minIn, size_t &maxIn) {
  struct Entry {
    const char *op;
    size_t min, max;
  };
  static const Entry table[] = {
      {"embed", 2, 2},        {"rms_norm", 2, 2}, {"linear", 2, 3},
      {"mlp", 4, 4},          {"rope", 2, 2},     {"attention", 3, 3},
      {"cache_update", 2, 2}, {"copy", 1, 1},     {"add", 2, 2},
  };
  for (const Entry &e : table)
    if (op == e.op) {
      minIn = e.min;
      maxIn = e.max;
      return true;
    }
  return false;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

static std::string fmtDouble(double d) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  return buf;
}

static std::string fmtDim(const Dim &d) {
  return d.isScalar ? "\"s" + std::to_string(d.value) + "\""
                    : std::to_string(d.value);
}

static std::string fmtDims(const std::vector<Dim> &dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + fmtDim(dims[i]);
  return s + "]";
}

template <typename T> static std::string fmtInts(const std::vector<T> &v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

static const char *valueKindName(Value::Kind k) {
  switch (k) {
  case Value::Kind::Input:
    return "input";
  case Value::Kind::Param:
    return "param";
  case Value::Kind::Buffer:
    return "buffer";
  case Value::Kind::Reshape:
    return "reshape";
  case Value::Kind::Slice:
    return "slice";
  case Value::Kind::Alias:
    return "alias";
  }
  return "?";
}

static const char *scalarKindName(Scalar::Kind k) {
  switch (k) {
  case Scalar::Kind::Dim:
    return "dim";
  case Scalar::Kind::Extract:
    return "extract";
  case Scalar::Kind::Add:
    return "add";
  case Scalar::Kind::Sub:
    return "sub";
  case Scalar::Kind::Mul:
    return "mul";
  }
  return "?";
}

std::string toJson(const Plan &plan) {
  std::ostringstream os;
  os << "{\n  \"format\": \"attn-plan\",\n  \"version\": " << kPlanVersion
     << ",\n  \"entry\": " << json::quote(plan.entry)
     << ",\n  \"archives\": [";
  for (size_t i = 0; i < plan.archives.size(); ++i)
    os << (i ? ", " : "") << json::quote(plan.archives[i]);
  os << "],\n  \"scalars\": [";
  for (size_t i = 0; i < plan.scalars.size(); ++i) {
    const Scalar &s = plan.scalars[i];
    os << (i ? "," : "") << "\n    {\"id\": \"s" << i << "\", \"op\": \""
       << scalarKindName(s.kind) << "\"";
    switch (s.kind) {
    case Scalar::Kind::Dim:
      os << ", \"input\": " << s.input << ", \"axis\": " << s.axis;
      break;
    case Scalar::Kind::Extract:
      os << ", \"input\": " << s.input << ", \"index\": " << fmtDims(s.index);
      break;
    default:
      os << ", \"lhs\": " << fmtDim(s.lhs) << ", \"rhs\": " << fmtDim(s.rhs);
    }
    os << "}";
  }
  os << "\n  ],\n  \"inputs\": [";
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    const Input &in = plan.inputs[i];
    os << (i ? "," : "") << "\n    {\"name\": " << json::quote(in.name)
       << ", \"dtype\": \"" << params::dtypeName(in.dtype)
       << "\", \"shape\": " << fmtDims(in.shape) << "}";
  }
  os << "\n  ],\n  \"values\": [";
  for (size_t i = 0; i < plan.values.size(); ++i) {
    const Value &v = plan.values[i];
    os << (i ? "," : "") << "\n    {\"id\": " << i << ", \"kind\": \""
       << valueKindName(v.kind) << "\"";
    switch (v.kind) {
    case Value::Kind::Input:
      os << ", \"input\": " << v.source;
      break;
    case Value::Kind::Param:
      os << ", \"name\": " << json::quote(v.name);
      break;
    case Value::Kind::Buffer:
      os << ", \"slot\": " << v.source;
      break;
    default:
      os << ", \"source\": " << v.source;
    }
    os << ", \"dtype\": \"" << params::dtypeName(v.dtype)
       << "\", \"shape\": " << fmtDims(v.shape);
    if (v.kind == Value::Kind::Slice)
      os << ", \"offsets\": " << fmtDims(v.offsets);
    os << "}";
  }
  os << "\n  ],\n  \"slots\": " << plan.numSlots << ",\n  \"steps\": [";
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step &s = plan.steps[i];
    os << (i ? "," : "") << "\n    {\"op\": \"" << s.op
       << "\", \"in\": " << fmtInts(s.in) << ", \"out\": " << s.out;
    if (s.op == "rms_norm")
      os << ", \"epsilon\": " << fmtDouble(s.epsilon);
    if (s.op == "attention")
      os << ", \"scale\": " << fmtDouble(s.scale)
         << ", \"causal\": " << (s.causal ? "true" : "false");
    if (s.op == "rope") {
      os << ", \"theta\": " << fmtDouble(s.theta)
         << ", \"rotary_dim\": " << s.rotaryDim
         << ", \"base_dim\": " << s.baseDim << ", \"pairing\": \""
         << (s.interleaved ? "interleaved" : "rotate_half") << "\"";
      if (!s.frequencies.empty())
        os << ", \"frequencies\": " << fmtInts(s.frequencies);
    }
    if (s.op == "cache_update")
      os << ", \"position\": " << fmtDim(s.position);
    os << ", \"loc\": " << json::quote(s.loc) << "}";
  }
  os << "\n  ],\n  \"outputs\": " << fmtInts(plan.outputs) << "\n}\n";
  return os.str();
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

namespace {
struct Reader {
  std::string &error;
  std::string where;

  bool fail(const std::string &msg) {
    error = "plan: " + (where.empty() ? "" : where + ": ") + msg;
    return false;
  }
  const json::Value *member(const json::Value &obj, const char *key,
                            bool required = true) {
    const json::Value *v = obj.get(key);
    if (!v && required)
      fail(std::string("missing \"") + key + "\"");
    return v;
  }
  bool i64(const json::Value &v, int64_t &out, const char *what) {
    if (!v.isNumber() || !v.asI64(out))
      return fail(std::string("\"") + what + "\" must be an integer");
    return true;
  }
  bool getI64(const json::Value &obj, const char *key, int64_t &out) {
    const json::Value *v = member(obj, key);
    return v && i64(*v, out, key);
  }
  bool getDouble(const json::Value &obj, const char *key, double &out) {
    const json::Value *v = member(obj, key);
    if (!v)
      return false;
    if (!v->isNumber() || !std::isfinite(v->number))
      return fail(std::string("\"") + key + "\" must be a finite number");
    out = v->number;
    return true;
  }
  bool getString(const json::Value &obj, const char *key, std::string &out) {
    const json::Value *v = member(obj, key);
    if (!v)
      return false;
    if (!v->isString())
      return fail(std::string("\"") + key + "\" must be a string");
    out = v->string;
    return true;
  }
  bool dim(const json::Value &v, Dim &out, const char *what) {
    if (v.isString()) {
      const std::string &s = v.string;
      if (s.size() < 2 || s[0] != 's' || s.size() > 19)
        return fail(std::string("\"") + what + "\": bad scalar reference " +
                    json::quote(s));
      int64_t id = 0;
      for (size_t i = 1; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9')
          return fail(std::string("\"") + what +
                      "\": bad scalar reference " + json::quote(s));
        id = id * 10 + (s[i] - '0');
      }
      out = Dim::scalar(id);
      return true;
    }
    int64_t c;
    if (!i64(v, c, what))
      return false;
    out = Dim::constant(c);
    return true;
  }
  bool dims(const json::Value &obj, const char *key, std::vector<Dim> &out) {
    const json::Value *v = member(obj, key);
    if (!v)
      return false;
    if (!v->isArray() || v->array.size() > 8)
      return fail(std::string("\"") + key + "\" must be an array (rank <= 8)");
    out.clear();
    for (const json::Value &e : v->array) {
      Dim d;
      if (!dim(e, d, key))
        return false;
      out.push_back(d);
    }
    return true;
  }
  bool ints(const json::Value &obj, const char *key,
            std::vector<int64_t> &out) {
    const json::Value *v = member(obj, key);
    if (!v)
      return false;
    if (!v->isArray())
      return fail(std::string("\"") + key + "\" must be an array");
    out.clear();
    for (const json::Value &e : v->array) {
      int64_t x;
      if (!i64(e, x, key))
        return false;
      out.push_back(x);
    }
    return true;
  }
  bool dtype(const json::Value &obj, params::DType &out) {
    std::string s;
    if (!getString(obj, "dtype", s))
      return false;
    auto d = params::parseDType(s);
    if (!d)
      return fail("unknown dtype " + json::quote(s));
    out = *d;
    return true;
  }
};
} // namespace

bool fromJson(std::string_view text, Plan &plan, std::string &error) {
  json::Value root;
  if (!json::parse(text, root, error)) {
    error = "plan: " + error;
    return false;
  }
  Reader r{error, ""};
  plan = Plan();
  if (!root.isObject())
    return r.fail("not a JSON object");
  std::string format;
  if (!r.getString(root, "format", format))
    return false;
  if (format != "attn-plan")
    return r.fail("\"format\" is " + json::quote(format) +
                  ", expected \"attn-plan\"");
  int64_t version;
  if (!r.getI64(root, "version", version))
    return false;
  if (version != kPlanVersion)
    return r.fail("version " + std::to_string(version) +
                  " is not supported (this runtime reads version " +
                  std::to_string(kPlanVersion) + ")");
  if (!r.getString(root, "entry", plan.entry))
    return false;
  const json::Value *arch = r.member(root, "archives");
  if (!arch)
    return false;
  if (!arch->isArray())
    return r.fail("\"archives\" must be an array");
  for (const json::Value &a : arch->array) {
    if (!a.isString())
      return r.fail("\"archives\" must hold strings");
    plan.archives.push_back(a.string);
  }

  auto list = [&](const char *key) -> const json::Value * {
    const json::Value *v = r.member(root, key);
    if (v && !v->isArray()) {
      r.fail(std::string("\"") + key + "\" must be an array");
      return nullptr;
    }
    return v;
  };

  const json::Value *scalars = list("scalars");
  if (!scalars)
    return false;
  for (size_t i = 0; i < scalars->array.size(); ++i) {
    const json::Value &o = scalars->array[i];
    r.where = "scalar s" + std::to_string(i);
    if (!o.isObject())
      return r.fail("not an object");
    Scalar s;
    std::string op;
    if (!r.getString(o, "op", op))
      return false;
    if (op == "dim") {
      s.kind = Scalar::Kind::Dim;
      if (!r.getI64(o, "input", s.input) || !r.getI64(o, "axis", s.axis))
        return false;
    } else if (op == "extract") {
      s.kind = Scalar::Kind::Extract;
      if (!r.getI64(o, "input", s.input) || !r.dims(o, "index", s.index))
        return false;
    } else if (op == "add" || op == "sub" || op == "mul") {
      s.kind = op == "add"   ? Scalar::Kind::Add
               : op == "sub" ? Scalar::Kind::Sub
                             : Scalar::Kind::Mul;
      const json::Value *l = r.member(o, "lhs"), *h = r.member(o, "rhs");
      if (!l || !h || !r.dim(*l, s.lhs, "lhs") || !r.dim(*h, s.rhs, "rhs"))
        return false;
    } else {
      return r.fail("unknown scalar op " + json::quote(op));
    }
    plan.scalars.push_back(std::move(s));
  }

  const json::Value *inputs = list("inputs");
  if (!inputs)
    return false;
  for (size_t i = 0; i < inputs->array.size(); ++i) {
    const json::Value &o = inputs->array[i];
    r.where = "input " + std::to_string(i);
    if (!o.isObject())
      return r.fail("not an object");
    Input in;
    if (!r.getString(o, "name", in.name) || !r.dtype(o, in.dtype) ||
        !r.dims(o, "shape", in.shape))
      return false;
    plan.inputs.push_back(std::move(in));
  }

  const json::Value *values = list("values");
  if (!values)
    return false;
  for (size_t i = 0; i < values->array.size(); ++i) {
    const json::Value &o = values->array[i];
    r.where = "value " + std::to_string(i);
    if (!o.isObject())
      return r.fail("not an object");
    Value v;
    std::string kind;
    if (!r.getString(o, "kind", kind) || !r.dtype(o, v.dtype) ||
        !r.dims(o, "shape", v.shape))
      return false;
    if (kind == "input") {
      v.kind = Value::Kind::Input;
      if (!r.getI64(o, "input", v.source))
        return false;
    } else if (kind == "param") {
      v.kind = Value::Kind::Param;
      if (!r.getString(o, "name", v.name))
        return false;
    } else if (kind == "buffer") {
      v.kind = Value::Kind::Buffer;
      if (!r.getI64(o, "slot", v.source))
        return false;
    } else if (kind == "reshape" || kind == "slice" || kind == "alias") {
      v.kind = kind == "reshape" ? Value::Kind::Reshape
               : kind == "slice" ? Value::Kind::Slice
                                 : Value::Kind::Alias;
      if (!r.getI64(o, "source", v.source))
        return false;
      if (v.kind == Value::Kind::Slice && !r.dims(o, "offsets", v.offsets))
        return false;
    } else {
      return r.fail("unknown value kind " + json::quote(kind));
    }
    plan.values.push_back(std::move(v));
  }

  r.where = "";
  if (!r.getI64(root, "slots", plan.numSlots))
    return false;

  const json::Value *steps = list("steps");
  if (!steps)
    return false;
  for (size_t i = 0; i < steps->array.size(); ++i) {
    const json::Value &o = steps->array[i];
    r.where = "step " + std::to_string(i);
    if (!o.isObject())
      return r.fail("not an object");
    Step s;
    if (!r.getString(o, "op", s.op) || !r.ints(o, "in", s.in) ||
        !r.getI64(o, "out", s.out))
      return false;
    if (const json::Value *loc = o.get("loc"); loc && loc->isString())
      s.loc = loc->string;
    if (s.op == "rms_norm" && !r.getDouble(o, "epsilon", s.epsilon))
      return false;
    if (s.op == "attention") {
      if (!r.getDouble(o, "scale", s.scale))
        return false;
      const json::Value *c = r.member(o, "causal");
      if (!c)
        return false;
      if (c->kind != json::Value::Kind::Bool)
        return r.fail("\"causal\" must be a boolean");
      s.causal = c->boolean;
    }
    if (s.op == "rope") {
      std::string pairing;
      if (!r.getDouble(o, "theta", s.theta) ||
          !r.getI64(o, "rotary_dim", s.rotaryDim) ||
          !r.getI64(o, "base_dim", s.baseDim) ||
          !r.getString(o, "pairing", pairing))
        return false;
      if (pairing != "rotate_half" && pairing != "interleaved")
        return r.fail("unknown pairing " + json::quote(pairing));
      s.interleaved = pairing == "interleaved";
      if (o.get("frequencies") && !r.ints(o, "frequencies", s.frequencies))
        return false;
    }
    if (s.op == "cache_update") {
      const json::Value *p = r.member(o, "position");
      if (!p || !r.dim(*p, s.position, "position"))
        return false;
    }
    plan.steps.push_back(std::move(s));
  }
  r.where = "";
  if (!r.ints(root, "outputs", plan.outputs))
    return false;
  return validate(plan, error);
}

bool readPlanFile(const std::string &path, Plan &plan, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open the plan";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (!fromJson(ss.str(), plan, error)) {
    error = path + ": " + error;
    return false;
  }
  // Relative archive paths are relative to the plan's directory, so a plan
  // travels with its checkpoint (bench/gpu/bytellama.plan).
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  for (std::string &a : plan.archives)
    if (!a.empty() && a[0] != '/')
      a = dir + a;
  return true;
}

//===----------------------------------------------------------------------===//
// Checks
//===----------------------------------------------------------------------===//

bool validate(const Plan &plan, std::string &error) {
  auto fail = [&](const std::string &where, const std::string &msg) {
    error = "plan: " + where + ": " + msg;
    return false;
  };
  auto dimOk = [&](const Dim &d, size_t scalarsDefined) {
    return d.isScalar ? d.value >= 0 &&
                            static_cast<size_t>(d.value) < scalarsDefined
                      : d.value >= 0;
  };
  size_t n = plan.scalars.size();
  for (size_t i = 0; i < n; ++i) {
    const Scalar &s = plan.scalars[i];
    std::string where = "scalar s" + std::to_string(i);
    switch (s.kind) {
    case Scalar::Kind::Dim:
    case Scalar::Kind::Extract:
      if (s.input < 0 || static_cast<size_t>(s.input) >= plan.inputs.size())
        return fail(where, "input " + std::to_string(s.input) +
                               " out of range");
      if (s.kind == Scalar::Kind::Dim &&
          (s.axis < 0 ||
           static_cast<size_t>(s.axis) >= plan.inputs[s.input].shape.size()))
        return fail(where, "axis out of range");
      if (s.kind == Scalar::Kind::Extract) {
        if (s.index.size() != plan.inputs[s.input].shape.size())
          return fail(where, "index rank differs from the input's");
        params::DType t = plan.inputs[s.input].dtype;
        if (t != params::DType::I64 && t != params::DType::I32)
          return fail(where, "extract needs an I64 or I32 input");
        for (const Dim &d : s.index)
          if (!dimOk(d, i))
            return fail(where, "bad index");
      }
      break;
    default:
      // Constants may be negative in arithmetic; scalars must be earlier.
      for (const Dim *d : {&s.lhs, &s.rhs})
        if (d->isScalar && !dimOk(*d, i))
          return fail(where, "operand refers to a later or missing scalar");
    }
  }
  for (size_t i = 0; i < plan.inputs.size(); ++i)
    for (const Dim &d : plan.inputs[i].shape)
      if (!dimOk(d, n))
        return fail("input " + std::to_string(i), "bad shape");
  // At most one slot per value: a hostile count cannot make the runtime
  // allocate a huge slot table.
  if (plan.numSlots < 0 ||
      static_cast<uint64_t>(plan.numSlots) > plan.values.size())
    return fail("slots", std::to_string(plan.numSlots) +
                             " slots for " +
                             std::to_string(plan.values.size()) + " values");
  for (size_t i = 0; i < plan.values.size(); ++i) {
    const Value &v = plan.values[i];
    std::string where = "value " + std::to_string(i);
    for (const Dim &d : v.shape)
      if (!dimOk(d, n))
        return fail(where, "bad shape");
    switch (v.kind) {
    case Value::Kind::Input:
      if (v.source < 0 || static_cast<size_t>(v.source) >= plan.inputs.size())
        return fail(where, "input out of range");
      if (v.dtype != plan.inputs[v.source].dtype)
        return fail(where, "dtype differs from its input's");
      break;
    case Value::Kind::Param:
      if (v.dtype != params::DType::F32)
        return fail(where, "parameters are F32 values (the runtime converts "
                           "the stored dtype)");
      break;
    case Value::Kind::Buffer:
      if (v.source < 0 || v.source >= plan.numSlots)
        return fail(where, "slot out of range");
      if (v.dtype != params::DType::F32)
        return fail(where, "buffers are F32");
      break;
    default:
      if (v.source < 0 || static_cast<size_t>(v.source) >= i)
        return fail(where, "source must be an earlier value");
      if (plan.values[v.source].dtype != v.dtype)
        return fail(where, "dtype differs from its source's");
      if (v.kind == Value::Kind::Slice) {
        if (v.offsets.size() != v.shape.size() ||
            plan.values[v.source].shape.size() != v.shape.size())
          return fail(where, "slice rank differs from its source's");
        for (const Dim &d : v.offsets)
          if (!dimOk(d, n))
            return fail(where, "bad offset");
      }
      if (v.kind == Value::Kind::Alias &&
          plan.values[v.source].shape.size() != v.shape.size())
        return fail(where, "alias rank differs from its source's");
    }
  }
  size_t nv = plan.values.size();
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step &s = plan.steps[i];
    std::string where = "step " + std::to_string(i) + " (" + s.op + ")";
    size_t lo, hi;
    if (!stepArity(s.op, lo, hi))
      return fail(where, "unknown op");
    if (s.in.size() < lo || s.in.size() > hi)
      return fail(where, "takes " + std::to_string(lo) +
                             (hi != lo ? "-" + std::to_string(hi) : "") +
                             " operands, got " + std::to_string(s.in.size()));
    for (int64_t v : s.in)
      if (v < 0 || static_cast<size_t>(v) >= nv)
        return fail(where, "operand out of range");
    if (s.out < 0 || static_cast<size_t>(s.out) >= nv)
      return fail(where, "result out of range");
    if (s.op == "cache_update" && !dimOk(s.position, n) &&
        !(!s.position.isScalar))
      return fail(where, "bad position");
    if (s.op == "rope" && (s.rotaryDim <= 0 || s.rotaryDim % 2 ||
                           s.baseDim <= 0 ||
                           (!s.frequencies.empty() &&
                            s.frequencies.size() !=
                                static_cast<size_t>(s.rotaryDim / 2))))
      return fail(where, "bad rotary attributes");
  }
  for (int64_t v : plan.outputs)
    if (v < 0 || static_cast<size_t>(v) >= nv)
      return fail("outputs", "value out of range");
  return true;
}

} // namespace attenuate::plan
