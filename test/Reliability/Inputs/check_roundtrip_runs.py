#!/usr/bin/env python3
"""Lists the .mlir tests whose attn IR never goes through --verify-roundtrip.

Every .mlir test under test/ (Inputs/ excepted) that holds attn ops must have
a RUN line with --verify-roundtrip on that IR: on %s, or, for split-file
tests, on each `//--- name.mlir` part that holds attn ops (%t/name.mlir).
The round trip (print, parse, print; and through the generic form) is the
promise of every op's assembly format; a test that only runs passes would
miss a printer that the parser cannot read back.

Usage: check_roundtrip_runs.py TEST_ROOT. Prints one line per missing round
trip and exits 1 if there is any.
"""
import os
import re
import sys

ATTN_OP = re.compile(r'\battn\.[a-z_]+\b|"attn\.[a-z_]+"')


def run_lines(text):
    """RUN lines with their continuations joined."""
    lines, cur = [], ""
    for line in text.splitlines():
        m = re.match(r"\s*//\s*RUN:(.*)$", line)
        if not m:
            continue
        part = m.group(1).rstrip()
        if part.endswith("\\"):
            cur += part[:-1] + " "
            continue
        lines.append(cur + part)
        cur = ""
    return lines


def parts(text):
    """(name, body) of each split-file part; [] when there are none."""
    out, name, body = [], None, []
    for line in text.splitlines():
        m = re.match(r"^//--- (\S+)$", line)
        if m:
            if name:
                out.append((name, "\n".join(body)))
            name, body = m.group(1), []
        elif name:
            body.append(line)
    if name:
        out.append((name, "\n".join(body)))
    return out


def has_attn_ops(ir):
    code = "\n".join(l for l in ir.splitlines() if not l.strip().startswith("//"))
    return ATTN_OP.search(code) is not None


def main():
    root = sys.argv[1]
    missing = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "Inputs")
        for f in sorted(filenames):
            if not f.endswith(".mlir"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            text = open(path).read()
            rt = [r for r in run_lines(text) if "--verify-roundtrip" in r]
            split = parts(text)
            if split:
                for name, body in split:
                    if name.endswith(".mlir") and has_attn_ops(body) and not any(
                            "%t/" + name in r for r in rt):
                        missing.append(f"{rel}: part {name}")
            elif has_attn_ops(text) and not any("%s" in r for r in rt):
                missing.append(rel)
    for m in missing:
        print(f"no --verify-roundtrip RUN line: {m}")
    print(f"{len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
