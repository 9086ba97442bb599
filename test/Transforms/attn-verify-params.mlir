// attn-verify-params: every attn.param must name a stored tensor with the
// op's shape and element type. The archives are made here by
// test/Inputs/params_write_safetensors.py (zeros, valid layout).
//
// RUN: rm -rf %t && split-file %s %t && mkdir -p %t/model/sub %t/elsewhere
// RUN: %PYTHON %S/../Inputs/params_write_safetensors.py %t/model/weights.safetensors w:F32:4x8 b:BF16:8 pos:I64:
// RUN: %PYTHON %S/../Inputs/params_write_safetensors.py %t/model/sub/extra.safetensors e:F16:2x2
// Every part round-trips (print, parse, print, and the generic form).
// RUN: attn-opt %t/model/model.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/model/mismatch.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/model/missing_archive.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/elsewhere/no_params_attr.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/model/sharded.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/model/duplicate.mlir --verify-roundtrip -o /dev/null
// RUN: attn-opt %t/model/not_an_array.mlir --verify-roundtrip -o /dev/null
//
// Success: the archives the module lists resolve against the module file's
// directory, wherever the tool runs from; the IR passes through unchanged.
// RUN: cd %t/elsewhere && attn-opt %t/model/model.mlir --attn-verify-params | FileCheck %s --check-prefix=OK
// RUN: cd %t/elsewhere && attn-opt ../model/model.mlir --attn-verify-params -o /dev/null
// OK: module attributes {attn.params = ["weights.safetensors", "sub/extra.safetensors"]}
// OK: attn.param "w" : tensor<4x8xf32>
//
// A module read from stdin has no directory: its paths are relative to the
// working directory.
// RUN: cd %t/model && attn-opt --attn-verify-params -o /dev/null < %t/model/model.mlir
// RUN: cd %t && not attn-opt --attn-verify-params -o /dev/null < %t/model/model.mlir 2>&1 | FileCheck %s --check-prefix=STDIN
// STDIN: error: weights.safetensors: cannot open
//
// A missing tensor, a shape mismatch and a dtype mismatch, each at its op.
// RUN: attn-opt %t/model/mismatch.mlir --attn-verify-params --verify-diagnostics -o /dev/null
// ... and the message names the archive that holds the tensor.
// RUN: not attn-opt %t/model/mismatch.mlir --attn-verify-params -o /dev/null 2>&1 | FileCheck %s --check-prefix=WHERE -DDIR=%t
// WHERE: error: parameter "w" is 'tensor<8x4xf32>' in the IR but F32[4,8] in [[DIR]]/model/weights.safetensors
// WHERE: error: parameter "b" is 'tensor<8xf32>' in the IR but BF16[8] in [[DIR]]/model/weights.safetensors
//
// A missing archive: the error names the file, resolved against the module.
// RUN: not attn-opt %t/model/missing_archive.mlir --attn-verify-params -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOFILE -DDIR=%t
// NOFILE: missing_archive.mlir:1:1: error: [[DIR]]/model/no_such.safetensors: cannot open
//
// --attn-params= replaces the archives the module lists (here a missing
// one); its relative paths are relative to the working directory.
// RUN: attn-opt %t/model/missing_archive.mlir --attn-params=%t/model/weights.safetensors --attn-verify-params -o /dev/null
// RUN: cd %t/model && attn-opt %t/elsewhere/no_params_attr.mlir --attn-params=weights.safetensors,sub/extra.safetensors --attn-verify-params -o /dev/null
// The override is the whole list: the module's second archive is not added.
// RUN: not attn-opt %t/model/model.mlir --attn-params=%t/model/weights.safetensors --attn-verify-params -o /dev/null 2>&1 | FileCheck %s --check-prefix=OVERRIDE
// OVERRIDE: error: parameter "e" is not in any archive of the module
// RUN: not attn-opt %t/model/model.mlir --attn-params=%t/model/other.safetensors --attn-verify-params -o /dev/null 2>&1 | FileCheck %s --check-prefix=OVERRIDE-MISSING -DDIR=%t
// OVERRIDE-MISSING: error: [[DIR]]/model/other.safetensors: cannot open
//
// A module without attn.params and no override has no tensors at all.
// RUN: attn-opt %t/elsewhere/no_params_attr.mlir --attn-verify-params --verify-diagnostics -o /dev/null
//
// A sharded checkpoint's index.json is an archive too.
// RUN: %PYTHON %S/../Inputs/params_write_safetensors.py --index %t/model/model.safetensors.index.json w=weights.safetensors b=weights.safetensors pos=weights.safetensors e=sub/extra.safetensors
// RUN: attn-opt %t/model/sharded.mlir --attn-verify-params -o /dev/null
//
// The same tensor name in two archives is an error naming both.
// RUN: cp %t/model/weights.safetensors %t/model/sub/copy.safetensors
// RUN: not attn-opt %t/model/duplicate.mlir --attn-verify-params -o /dev/null 2>&1 | FileCheck %s --check-prefix=DUP -DDIR=%t
// DUP: error: duplicate tensor "{{w|b|pos}}": in [[DIR]]/model/weights.safetensors and in [[DIR]]/model/sub/copy.safetensors
//
// attn.params must be an array.
// RUN: attn-opt %t/model/not_an_array.mlir --attn-verify-params --verify-diagnostics -o /dev/null

//--- model/model.mlir
module attributes {attn.params = ["weights.safetensors", "sub/extra.safetensors"]} {
  func.func @f() -> (tensor<4x8xf32>, tensor<8xbf16>, tensor<i64>, tensor<2x2xf16>) {
    %w = attn.param "w" : tensor<4x8xf32>
    %b = attn.param "b" : tensor<8xbf16>
    %pos = attn.param "pos" : tensor<i64>
    %e = attn.param "e" : tensor<2x2xf16>
    return %w, %b, %pos, %e : tensor<4x8xf32>, tensor<8xbf16>, tensor<i64>, tensor<2x2xf16>
  }
}

//--- model/mismatch.mlir
module attributes {attn.params = ["weights.safetensors"]} {
  func.func @f() -> (tensor<8x4xf32>, tensor<8xf32>, tensor<3xf32>) {
    // Stored as F32[4,8]: a transposed shape.
    // expected-error @below {{parameter "w" is 'tensor<8x4xf32>' in the IR but F32[4,8] in}}
    %w = attn.param "w" : tensor<8x4xf32>
    // Stored as BF16[8]: the shape matches, the dtype does not.
    // expected-error @below {{parameter "b" is 'tensor<8xf32>' in the IR but BF16[8] in}}
    %b = attn.param "b" : tensor<8xf32>
    // expected-error @below {{parameter "model.norm.weight" is not in any archive of the module}}
    %n = attn.param "model.norm.weight" : tensor<3xf32>
    return %w, %b, %n : tensor<8x4xf32>, tensor<8xf32>, tensor<3xf32>
  }
}

//--- model/missing_archive.mlir
module attributes {attn.params = ["no_such.safetensors"]} {
  func.func @f() -> tensor<4x8xf32> {
    %w = attn.param "w" : tensor<4x8xf32>
    return %w : tensor<4x8xf32>
  }
}

//--- elsewhere/no_params_attr.mlir
module {
  func.func @f() -> (tensor<4x8xf32>, tensor<2x2xf16>) {
    // expected-error @below {{parameter "w" is not in any archive of the module}}
    %w = attn.param "w" : tensor<4x8xf32>
    // expected-error @below {{parameter "e" is not in any archive of the module}}
    %e = attn.param "e" : tensor<2x2xf16>
    return %w, %e : tensor<4x8xf32>, tensor<2x2xf16>
  }
}

//--- model/sharded.mlir
module attributes {attn.params = ["model.safetensors.index.json"]} {
  func.func @f() -> (tensor<4x8xf32>, tensor<2x2xf16>) {
    %w = attn.param "w" : tensor<4x8xf32>
    %e = attn.param "e" : tensor<2x2xf16>
    return %w, %e : tensor<4x8xf32>, tensor<2x2xf16>
  }
}

//--- model/duplicate.mlir
module attributes {attn.params = ["weights.safetensors", "sub/copy.safetensors"]} {
  func.func @f() -> tensor<4x8xf32> {
    %w = attn.param "w" : tensor<4x8xf32>
    return %w : tensor<4x8xf32>
  }
}

//--- model/not_an_array.mlir
// expected-error @below {{'attn.params' must be an array of archive paths}}
module attributes {attn.params = "weights.safetensors"} {
  func.func @f() -> tensor<4x8xf32> {
    %w = attn.param "w" : tensor<4x8xf32>
    return %w : tensor<4x8xf32>
  }
}
