"""Writes a module of N small attn functions (about 200 bytes each), big
enough that attn-opt spends a measurable time printing it."""
import sys

path, count = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(count):
        f.write(
            f"func.func @f{i}(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {{\n"
            f"  %w = attn.param \"layers.{i}.w\" : tensor<4x8xf32>\n"
            f"  %y = attn.linear %x, %w : tensor<?x8xf32>, tensor<4x8xf32>"
            f" -> tensor<?x4xf32>\n"
            f"  return %y : tensor<?x4xf32>\n}}\n")
