#!/usr/bin/python3
"""test_schemas.py: the JSON Schemas in schemas/ against their examples.

Checks that every schemas/*.schema.json is a valid draft 2020-12 schema,
that the $defs shared between schemas (meter_id, utc_ms, src) are identical
copies, and that every example in tests/data/schemas/valid/<schema>-<name>.json
passes and every one in tests/data/schemas/invalid/ fails. Invalid examples
print the first reason they were refused, so a reviewer can see that each
fails for the reason its name gives.

Prints "ok - ..." / "not ok - ..." per check and a last line
"schemas: N passed, M failed". Exit 0 if all pass, 1 if not, 77 (skip) when
python3-jsonschema is missing. -v prints every error of every example.
"""

import json
import os
import sys

SCHEMA_NAMES = ("reading", "scored_reading", "alert", "rollup")
SHARED_DEFS = ("meter_id", "utc_ms", "src")
MIN_EXAMPLES = 3  # per schema and kind: a schema without examples is untested

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_DIR = os.path.join(ROOT, "schemas")
DATA_DIR = os.path.join(ROOT, "tests", "data", "schemas")

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:
    print("schemas: skipped: python3-jsonschema is missing (apt-get install python3-jsonschema)")
    sys.exit(77)


class Counter:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name):
        self.passed += 1
        print("ok - " + name)

    def not_ok(self, name, *detail):
        self.failed += 1
        print("not ok - " + name)
        for line in detail:
            for part in str(line).splitlines():
                print("#   " + part)


def strict_json_load(path):
    """Load JSON as a strict parser would: no NaN/Infinity, no duplicate keys.

    Python's json module accepts both; an example relying on either would
    test Python, not the contract.
    """

    def no_constants(name):
        raise ValueError("non-JSON constant " + name)

    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError("duplicate key " + repr(key))
            seen[key] = value
        return seen

    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_constant=no_constants, object_pairs_hook=no_duplicates)


def describe(error):
    """One line: where in the instance, and why."""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    msg = error.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return "%s: %s" % (where, msg)


def main():
    verbose = "-v" in sys.argv[1:]
    t = Counter()

    # --- the schemas ---------------------------------------------------------
    validators = {}
    defs = {}
    for name in SCHEMA_NAMES:
        path = os.path.join(SCHEMA_DIR, name + ".schema.json")
        label = "schemas/%s.schema.json" % name
        try:
            schema = strict_json_load(path)
        except (OSError, ValueError) as e:
            t.not_ok(label + " loads", e)
            continue
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            t.not_ok(label + " declares draft 2020-12", "got $schema %r" % schema.get("$schema"))
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            t.not_ok(label + " is a valid draft 2020-12 schema", describe(e))
            continue
        t.ok(label + " is a valid draft 2020-12 schema")
        validators[name] = Draft202012Validator(schema)
        defs[name] = schema.get("$defs", {})

    # The shared definitions are copied into each schema (so each file stands
    # alone for Kafka Connect or a registry); the copies must not drift.
    for d in SHARED_DEFS:
        holders = [n for n in SCHEMA_NAMES if d in defs.get(n, {})]
        if len(holders) < 2:
            continue
        first = defs[holders[0]][d]
        differ = [n for n in holders[1:] if defs[n][d] != first]
        if differ:
            t.not_ok("$defs/%s is identical in %s" % (d, ", ".join(holders)),
                     "differs in: " + ", ".join(differ))
        else:
            t.ok("$defs/%s is identical in %s" % (d, ", ".join(holders)))

    # --- the examples --------------------------------------------------------
    counts = {(n, k): 0 for n in SCHEMA_NAMES for k in ("valid", "invalid")}
    for kind in ("valid", "invalid"):
        folder = os.path.join(DATA_DIR, kind)
        try:
            files = sorted(f for f in os.listdir(folder) if f.endswith(".json"))
        except OSError as e:
            t.not_ok("tests/data/schemas/%s is readable" % kind, e)
            continue
        for fname in files:
            label = "%s/%s" % (kind, fname)
            schema_name = fname.split("-", 1)[0]
            if schema_name not in SCHEMA_NAMES or "-" not in fname:
                t.not_ok(label, "name is not <schema>-<name>.json with schema in " + ", ".join(SCHEMA_NAMES))
                continue
            if schema_name not in validators:
                t.not_ok(label, "schema %s did not load" % schema_name)
                continue
            counts[(schema_name, kind)] += 1
            try:
                instance = strict_json_load(os.path.join(folder, fname))
            except (OSError, ValueError) as e:
                t.not_ok(label, "not strict JSON: %s" % e)
                continue
            errors = sorted(validators[schema_name].iter_errors(instance),
                            key=lambda e: (list(e.absolute_path), e.message))
            if kind == "valid":
                if errors:
                    t.not_ok(label + " passes", *[describe(e) for e in errors])
                else:
                    t.ok(label + " passes")
            else:
                if errors:
                    t.ok("%s fails (%s)" % (label, describe(errors[0])))
                    if verbose:
                        for e in errors[1:]:
                            print("#   also " + describe(e))
                else:
                    t.not_ok(label + " fails", "it passed")

    for (name, kind), n in sorted(counts.items()):
        if n >= MIN_EXAMPLES:
            t.ok("%s has %d %s examples" % (name, n, kind))
        else:
            t.not_ok("%s has at least %d %s examples" % (name, MIN_EXAMPLES, kind), "found %d" % n)

    print("schemas: %d passed, %d failed" % (t.passed, t.failed))
    return 0 if t.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
