#!/usr/bin/env python3
"""Prints one closing line counting every test of the suite.

ctest sees the lit suite and the pytest suite as one test each, so their
individual results are read from their own JUnit files; the remaining ctest
entries are the GoogleTest cases. scripts/reliability.sh adds one testcase
per fuzz target, replay and sanitizer step (reliability.xml).
"""
import os
import sys
import xml.etree.ElementTree as ET

UMBRELLAS = {"lit", "pytest"}


def count(path, skip_names=()):
    passed = failed = skipped = 0
    if not os.path.exists(path):
        return None
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.get("name") in skip_names:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    d = sys.argv[1]
    total = [0, 0, 0]
    missing = []
    for name, path, skip in [("unit (ctest)", "ctest.xml", UMBRELLAS),
                             ("lit", "lit.xml", ()),
                             ("pytest", "pytest.xml", ()),
                             ("reliability", "reliability.xml", ())]:
        c = count(os.path.join(d, path), skip)
        if c is None:
            missing.append(name)
            continue
        print(f"  {name:14s} {c[0]} passed, {c[1]} failed, {c[2]} skipped")
        for i in range(3):
            total[i] += c[i]
    if missing:
        print(f"  missing results: {', '.join(missing)}")
    print(f"tests: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if (total[1] or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
