#!/usr/bin/env bash
# Installs every Debian package Attenuate needs. Idempotent; quick when all is present.
set -euo pipefail

PKGS=(
  # compiler toolchain and MLIR 22 (bookworm-security)
  cmake ninja-build clang-14 lld-14 libclang-rt-14-dev
  # llvm-symbolizer for the sanitizer and fuzzer reports (scripts/reliability.sh)
  llvm-14
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # unit tests
  googletest libgtest-dev
  # numerics
  liblapacke-dev libopenblas-dev libopenblas0
  # python side: reference, training, plots
  python3 python3-numpy python3-torch python3-matplotlib python3-pytest
  # the Python package: pybind11 and the headers of Debian's python3.11
  pybind11-dev python3-pybind11 python3-dev
  # training text
  python3.11-doc
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present" >&2
fi
