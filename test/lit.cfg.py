# -*- Python -*-
import os

import lit.formats
import lit.llvm

# lit.site.cfg.py does not initialise lit.llvm (upstream's does); do it here
# so llvm_config exists whichever file is changed first.
if lit.llvm.llvm_config is None:
    lit.llvm.initialize(lit_config, config)
from lit.llvm import llvm_config

config.name = "Attenuate"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
# Inputs/ hold data and helper scripts, not tests; Unit/ and python/ run
# under their own runners.
config.excludes = ["Inputs", "Unit", "python", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py"]

llvm_config.with_system_environment(["HOME", "TMPDIR", "ASAN_OPTIONS",
                                     "UBSAN_OPTIONS", "LSAN_OPTIONS"])
llvm_config.use_default_substitutions()

config.substitutions.append(("%attn_src", config.attn_src_root))
config.substitutions.append(("%attn_libs", config.attn_lib_dir))
mlir_opt = os.path.join(config.llvm_tools_dir, "mlir-opt")
python = config.python_executable
# The sanitizer build (ATTN_ENABLE_SANITIZERS, scripts/reliability.sh): our
# tools are instrumented and use the shared ASan runtime; upstream mlir-opt
# and python are not, so they load our plugin or libattn_runtime.so only
# with that runtime preloaded.
if getattr(config, "attn_sanitizers", False):
    config.available_features.add("asan")
    preload = "env LD_PRELOAD=%s " % config.attn_asan_runtime
    mlir_opt = preload + mlir_opt
    python = preload + python
config.substitutions.append(("%mlir_opt", mlir_opt))
config.substitutions.append(("%PYTHON", python))
config.environment["PYTHONPATH"] = os.path.join(config.attn_src_root, "python")

llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.attn_tools_dir, append_path=True)
tools = ["attn-opt", "attn-import"]
llvm_config.add_tool_substitutions(tools, [config.attn_tools_dir])

# cuda-device: attn-exec was built with the CUDA backend and a usable GPU is
# here (tests that need one say REQUIRES: cuda-device and show UNSUPPORTED
# elsewhere).
import subprocess
_attn_exec = os.path.join(config.attn_tools_dir, "attn-exec")
if os.path.exists(_attn_exec):
    try:
        _devices = subprocess.run([_attn_exec, "--list-devices"],
                                  capture_output=True, text=True,
                                  timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        _devices = ""
    if "cuda: available" in _devices:
        config.available_features.add("cuda-device")
