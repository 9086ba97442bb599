#!/usr/bin/env python3
"""convert-attn-to-runtime on every function of every .mlir test: no crash.

    plan_every_function.py TEST_ROOT WORK_DIR

MLIR's rule (shared/RELIABILITY.md): a pass fails with a diagnostic or does
nothing, it never crashes. Each test file is split at `// -----`, and the
pass runs with entry= each function the chunk defines (attn-opt exits 0 with
a plan or 1 with a diagnostic; anything else is a crash, printed with the
file, chunk and function). Prints the counts; exits non-zero on a crash.
"""

import glob
import os
import re
import shutil
import subprocess
import sys


def main():
    root, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    attn_opt = shutil.which("attn-opt")
    chunk_path = os.path.join(work, "chunk.mlir")
    runs = plans = crashes = 0
    for path in sorted(glob.glob(os.path.join(root, "**", "*.mlir"),
                                 recursive=True)):
        for i, chunk in enumerate(open(path).read().split("// -----")):
            names = sorted(set(re.findall(
                r"func\.func (?:private |public )?@([\w.$-]+)\(", chunk)))
            if not names:
                continue
            with open(chunk_path, "w") as f:
                f.write(chunk)
            for name in names:
                runs += 1
                r = subprocess.run(
                    [attn_opt, chunk_path, "--convert-attn-to-runtime=plan=" +
                     os.path.join(work, "p.plan") + " entry=" + name,
                     "-o", os.devnull], capture_output=True, text=True,
                    timeout=120)
                if r.returncode == 0:
                    plans += 1
                elif r.returncode != 1:
                    crashes += 1
                    print(f"CRASH {os.path.relpath(path, root)} chunk {i} "
                          f"@{name}: exit {r.returncode}\n{r.stderr[-2000:]}")
    print(f"{runs} functions, {plans} plans, {crashes} crashes")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
