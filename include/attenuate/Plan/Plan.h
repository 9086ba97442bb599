//===- Plan.h - the serialized execution plan (attn-plan v1) ----*- C++ -*-===//
//
// What `convert-attn-to-runtime` writes and `attn-exec` runs: a straight-line
// program of runtime kernel calls over planned buffers. No MLIR or LLVM here:
// the GPU machine reads plans with this alone.
//
// A plan is JSON (docs/runtime-plan.md has the full description):
//  - scalars: index values computed at run time from the inputs (a dynamic
//    dim of an input, an element of an integer input, sums/products);
//  - inputs: the entry's arguments, in order, with their shapes;
//  - values: every tensor the program touches. Storage comes from an input,
//    a parameter (by name, from the safetensors archives), or a buffer slot;
//    reshapes, slices and in-place cache updates are views of another value;
//  - slots: buffers are assigned slots by liveness, so a slot is reused once
//    every value living in it is dead; a slot's size is the largest of its
//    buffers, known when the scalars are;
//  - steps: kernel calls on values, with the op's attributes;
//  - outputs: the values the entry returns.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_PLAN_PLAN_H
#define ATTENUATE_PLAN_PLAN_H

#include "attenuate/Params/DType.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attenuate::plan {

constexpr int kPlanVersion = 1;

/// A size or index: a constant, or the value of scalar `value`.
struct Dim {
  bool isScalar = false;
  int64_t value = 0;
  static Dim constant(int64_t v) { return {false, v}; }
  static Dim scalar(int64_t id) { return {true, id}; }
  bool operator==(const Dim &o) const {
    return isScalar == o.isScalar && value == o.value;
  }
};

struct Scalar {
  enum class Kind { Dim, Extract, Add, Sub, Mul };
  Kind kind = Kind::Dim;
  int64_t input = 0;       // Dim, Extract: the input
  int64_t axis = 0;        // Dim
  std::vector<Dim> index;  // Extract: the element (an integer input)
  Dim lhs, rhs;            // Add, Sub, Mul
};

struct Input {
  std::string name;
  params::DType dtype = params::DType::F32;
  std::vector<Dim> shape; // constants are checked; scalars are defined here
};

struct Value {
  enum class Kind { Input, Param, Buffer, Reshape, Slice, Alias };
  Kind kind = Kind::Buffer;
  int64_t source = 0;   // Input: input index; Buffer: slot; views: value id
  std::string name;     // Param: tensor name
  params::DType dtype = params::DType::F32;
  std::vector<Dim> shape;
  std::vector<Dim> offsets; // Slice (unit strides)
};

/// Kernel calls. Operands (`in`) by op:
///   embed [table, tokens]; rms_norm [x, weight]; linear [x, weight(, bias)];
///   mlp [x, gate, up, down]; rope [x, positions];
///   attention [q, k, v]; cache_update [cache, update] (writes `out`, an
///   alias of cache, at `position`); copy [x]; add [lhs, rhs].
struct Step {
  std::string op;
  std::vector<int64_t> in;
  int64_t out = 0;
  std::string loc; // the op's location, for messages
  // Attributes (meaningful per op).
  double epsilon = 0;               // rms_norm
  double scale = 0;                 // attention
  bool causal = false;              // attention
  double theta = 0;                 // rope
  int64_t rotaryDim = 0, baseDim = 0; // rope
  bool interleaved = false;         // rope
  std::vector<int64_t> frequencies; // rope (empty: 0..rotaryDim/2-1)
  Dim position;                     // cache_update
};

struct Plan {
  std::string entry;
  std::vector<std::string> archives;
  std::vector<Scalar> scalars;
  std::vector<Input> inputs;
  std::vector<Value> values;
  int64_t numSlots = 0;
  std::vector<Step> steps;
  std::vector<int64_t> outputs;
};

/// Operand count(s) an op takes; false for an unknown op.
bool stepArity(std::string_view op, size_t &minIn, size_t &maxIn);

/// The JSON text (one value or step per line, so tests can match lines).
std::string toJson(const Plan &plan);
/// Parses and validates (every reference in range and to something defined
/// earlier, known ops with their operand counts, dtypes the runtime has).
bool fromJson(std::string_view text, Plan &plan, std::string &error);
/// Reads a plan file; relative archive paths become relative to its directory.
bool readPlanFile(const std::string &path, Plan &plan, std::string &error);
/// Structural checks fromJson applies (exposed for the pass's own output).
bool validate(const Plan &plan, std::string &error);

} // namespace attenuate::plan

#endif // ATTENUATE_PLAN_PLAN_H
