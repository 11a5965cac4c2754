#!/usr/bin/env python3
"""The README's configuration table against the programs' own rows.

Each program prints its variables with --help (from its config rows); the
README's "Configuration" table must cover every one (by name, or by a
family such as `RULE_*` or `TOPIC_RAW` ... `TOPIC_ROLLUPS_1H`), name no
variable that no program has, and give the programs' defaults where it
gives one for a single variable. Prints "config-docs: N passed, M failed".
"""
import os
import re
import subprocess
import sys

TOP = os.environ.get("MF_TOP", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BIN = os.environ.get("MF_BIN_DIR", os.path.join(TOP, "build", "bin"))
PROGRAMS = ("ingest-gw", "stream-worker", "aggregator", "analytics-api", "source-sink", "meterctl")


def help_vars(prog):
    out = subprocess.run([os.path.join(BIN, prog), "--help"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    found = {}
    for m in re.finditer(r"^  (\S+)\s+\[([^\]]*)\]", out, re.M):
        found[m.group(1)] = m.group(2)
    return found


def readme_rows():
    text = open(os.path.join(TOP, "README.md"), encoding="utf-8").read()
    sec = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in sec.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        rows.append((cells[0], cells[1]))
    return rows


def main():
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        if ok:
            passed += 1
        else:
            failed += 1

    variables = {}
    for prog in PROGRAMS:
        for name, default in help_vars(prog).items():
            if name == "KAFKA_<PROP>":
                continue  # the pass-through, a family of librdkafka's
            variables.setdefault(name, set()).add(default)
    names, families, defaults = set(), [], {}
    for first, second in readme_rows():
        listed = re.findall(r"`([A-Z0-9_<>*]+)`", first)
        if "..." in first and len(listed) == 2:  # `TOPIC_RAW` ... `TOPIC_ROLLUPS_1H`
            prefix = os.path.commonprefix(listed)
            families.append(prefix[:prefix.rfind("_") + 1] + "*")
            names.update(listed)
            continue
        for n in listed:
            if n.endswith("*"):
                families.append(n)
            elif n != "KAFKA_<PROP>":
                names.add(n)
        if len(listed) == 1 and re.fullmatch(r"`?[\w.:/-]+`?", second):
            defaults[listed[0]] = second.strip("`")

    def covered(v):
        return v in names or any(v.startswith(f[:-1]) for f in families)

    for v in sorted(variables):
        check(covered(v), "README's configuration table covers %s" % v)
    for n in sorted(names):
        check(n in variables, "README's %s is a variable a program has" % n)
    for n, d in sorted(defaults.items()):
        if n in variables and d not in ("-", ""):
            check(d in variables[n], "README's default for %s (%s) is the program's (%s)" % (
                n, d, "/".join(sorted(variables[n]))))
    print("config-docs: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
