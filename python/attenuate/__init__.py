"""Attenuate: an MLIR compiler that compresses transformer attention (Python side)."""
