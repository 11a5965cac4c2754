"""s3-archive: reads the S3 archive back and checks it (issue 16).

Run by tools/s3-archive in the venv tools/s3-fetch makes (boto3, pyarrow).

  summary        objects, bytes and rows under raw/ and analytics/, and the
                 Parquet-vs-JSON size ratio of the rollups
  check          raw: every record of meter.readings.raw exactly once (by
                 topic, partition, offset; with --brokers: all of them, no
                 more), each under the hour of its reading's ts (UTC);
                 analytics: every rollup record exactly once (rows = records
                 of the rollup topics with --brokers; no (meter, width,
                 window_start, revision) twice), each under its window's day;
                 with --pg: the highest revision per (meter, width,
                 window_start) equals rollup_1m_stats / rollup_1h_stats for
                 every closed window. --wait S repeats until it passes.

Common: --endpoint URL (S3_ENDPOINT), --bucket NAME (S3_BUCKET), credentials
from S3_ACCESS_KEY / S3_SECRET_KEY (or the AWS_* ones). --kv prints
key=value lines instead of the table.
"""
import argparse
import collections
import datetime
import gzip
import io
import json
import math
import os
import re
import subprocess
import sys
import time

import boto3
import pyarrow.parquet as pq
from botocore.config import Config

RAW_KEY = re.compile(r"^raw/(\d{4})/(\d{2})/(\d{2})/(\d{2})/([^/+]+)\+(\d+)\+(\d{20})\.jsonl(\.gz)?$")
ROLLUP_KEY = re.compile(r"^analytics/(\d{4})/(\d{2})/(\d{2})/([^/+]+)\+(\d+)\+(\d{20})\.(snappy\.)?parquet$")
RAW_TOPIC = "meter.readings.raw"
ROLLUP_TOPICS = ("meter.rollups.1m", "meter.rollups.1h")
FIELDS = ["count", "sum_kw", "avg_kw", "min_kw", "max_kw", "stddev_kw", "stddev_pop_kw", "energy_kwh",
          "quality_avg", "premium", "standard", "interpolated", "revision"]
HERE = os.path.dirname(os.path.abspath(__file__))


def s3_client(a):
    key = os.environ.get("S3_ACCESS_KEY") or os.environ.get("AWS_ACCESS_KEY_ID") or "meterflow"
    secret = os.environ.get("S3_SECRET_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY") or "meterflow-local"
    return boto3.client("s3", endpoint_url=a.endpoint or None, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def list_objects(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out.append((o["Key"], o["Size"], o.get("ETag", "")))
    return out


def get(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


# What an object held, by (key, ETag): --wait reads again only what changed.
CACHE = {}


def cached(s3, bucket, key, etag, parse):
    k = (bucket, key, etag)
    if k not in CACHE:
        CACHE[k] = parse(get(s3, bucket, key))
    return CACHE[k]


def parse_time(v):
    """A reading's ts (RFC 3339 with any offset, or epoch ms) as epoch ms, or None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        s = v.strip()
        if s[-1:] in "zZ":
            s = s[:-1] + "+00:00"
        try:
            t = datetime.datetime.fromisoformat(s)
        except ValueError:
            return None
        if t.tzinfo is None:
            return None
        return int(round(t.timestamp() * 1000))
    return None


def utc(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def iso_ms(ms):
    return utc(ms).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def end_offsets(brokers, topics):
    """{(topic, partition): end offset} from Kafka's GetOffsetShell."""
    libs = subprocess.run([os.path.join(HERE, "..", "kafka-fetch")], check=True,
                          capture_output=True, text=True).stdout.strip()
    r = subprocess.run(["java", "-Xmx128m", "-Dlog4j.configuration=file:/dev/null", "-cp", libs + "/*",
                        "org.apache.kafka.tools.GetOffsetShell", "--bootstrap-server", brokers,
                        "--topic-partitions", ",".join(topics), "--time", "-1"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("s3-archive: GetOffsetShell failed: " + r.stderr.strip()[-500:])
    ends = {}
    for line in r.stdout.split():
        t, p, o = line.rsplit(":", 2)
        ends[(t, int(p))] = int(o)
    return ends


# ------------------------------------------------------------------ reading

def parse_raw(key, body):
    """(records [(topic, partition, offset)], JSON bytes, problems) of one raw object."""
    m = RAW_KEY.match(key)
    y, mo, d, h, topic, part, start = m.group(1, 2, 3, 4, 5, 6, 7)
    if m.group(8):
        body = gzip.decompress(body)
    recs = []
    problems = []
    hour = "%s/%s/%s/%s" % (y, mo, d, h)
    for ln in body.decode("utf-8").splitlines():
        rec = json.loads(ln)
        recs.append((rec["topic"], rec["partition"], rec["offset"]))
        if (rec["topic"], rec["partition"]) != (topic, int(part)):
            problems.append("%s holds a record of %s/%s" % (key, rec["topic"], rec["partition"]))
        v = rec.get("value")
        t = parse_time(v.get("ts")) if isinstance(v, dict) else None
        if t is None and "timestamp" in rec:
            t = parse_time(rec["timestamp"])
        if t is None or utc(t).strftime("%Y/%m/%d/%H") != hour:
            problems.append("%s: offset %d (ts %s) is not in hour %s" % (
                key, rec["offset"], v.get("ts") if isinstance(v, dict) else None, hour))
    if recs and recs[0][2] != int(start):
        problems.append("%s: named start offset %d, first record %d" % (key, int(start), recs[0][2]))
    return recs, len(body), problems


def read_raw(s3, bucket, problems):
    """Every raw line: {(topic, p, o): count}, plus per-object facts."""
    seen = collections.Counter()
    objects = list_objects(s3, bucket, "raw/")
    lines = 0
    json_bytes = 0
    for key, size, etag in objects:
        if not RAW_KEY.match(key):
            problems.append("raw object %s: name is not raw/YYYY/MM/DD/HH/<topic>+<partition>+<start offset>.jsonl[.gz]" % key)
            continue
        recs, n, probs = cached(s3, bucket, key, etag, lambda b, key=key: parse_raw(key, b))
        seen.update(recs)
        lines += len(recs)
        json_bytes += n
        problems.extend(probs[:3])
        if len(probs) > 3:
            problems.append("%s: ... %d such problems in all" % (key, len(probs)))
    return {"objects": objects, "seen": seen, "lines": lines, "json_bytes": json_bytes}


def read_rollups(s3, bucket, problems):
    objects = list_objects(s3, bucket, "analytics/")
    rows = []
    for key, size, etag in objects:
        m = ROLLUP_KEY.match(key)
        if not m:
            problems.append("analytics object %s: name is not analytics/YYYY/MM/DD/<topic>+<partition>+<start offset>.parquet" % key)
            continue
        got, probs = cached(s3, bucket, key, etag, lambda b, key=key, m=m: parse_rollups(key, m, b))
        rows.extend(got)
        problems.extend(probs[:3])
        if len(probs) > 3:
            problems.append("%s: ... %d such problems in all" % (key, len(probs)))
    return {"objects": objects, "rows": rows}


def parse_rollups(key, m, body):
    day = "%s-%s-%s" % m.group(1, 2, 3)
    f = pq.ParquetFile(io.BytesIO(body))
    meta = f.metadata
    problems = []
    codecs = {meta.row_group(i).column(j).compression for i in range(meta.num_row_groups)
              for j in range(meta.num_columns)}
    if codecs and codecs != {"SNAPPY"}:
        problems.append("%s: compression %s, want SNAPPY" % (key, sorted(codecs)))
    rows = f.read().to_pylist()
    for r in rows:
        ws = r["window_start"]
        ms = int(ws.timestamp() * 1000) if isinstance(ws, datetime.datetime) else int(ws)
        r["window_start"] = ms
        if utc(ms).strftime("%Y-%m-%d") != day:
            problems.append("%s: window %s is not on %s" % (key, iso_ms(ms), day))
    return rows, problems


def rollup_json_bytes(rows):
    """The rows as the aggregator publishes them (DESIGN 3.4), one JSON line each."""
    n = 0
    for r in rows:
        o = {"meter_id": r["meter_id"], "width": r["width"], "window_start": iso_ms(r["window_start"])}
        for f in FIELDS:
            o[f] = r[f]
        n += len(json.dumps(o, separators=(",", ":"))) + 1
    return n


def pg_rollups(dsn):
    out = {}
    for width, view in (("1m", "rollup_1m_stats"), ("1h", "rollup_1h_stats")):
        q = ("SELECT meter_id, (extract(epoch FROM window_start) * 1000)::bigint, count, sum_kw, avg_kw, "
             "min_kw, max_kw, stddev_kw, stddev_pop_kw, energy_kwh, quality_avg, premium, standard, interpolated, revision "
             "FROM %s WHERE closed" % view)
        r = subprocess.run(["psql", dsn, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", q],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("s3-archive: psql failed: " + r.stderr.strip())
        for line in r.stdout.splitlines():
            c = line.split("\t")
            vals = dict(zip(FIELDS, c[2:]))
            row = {}
            for f, v in vals.items():
                row[f] = None if v == "" else (int(v) if f in ("count", "premium", "standard", "interpolated", "revision") else float(v))
            out[(c[0], width, int(c[1]))] = row
    return out


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


# ------------------------------------------------------------------ commands

def check(a, s3):
    problems = []
    raw = read_raw(s3, a.bucket, problems)
    roll = read_rollups(s3, a.bucket, problems)
    dup = [p for p, n in raw["seen"].items() if n > 1]
    for p in dup[:5]:
        problems.append("raw record %s/%d@%d is in %d objects" % (p[0], p[1], p[2], raw["seen"][p]))
    if len(dup) > 5:
        problems.append("... %d raw records twice or more in all" % len(dup))
    facts = {"raw_objects": len(raw["objects"]), "raw_records": len(raw["seen"]), "raw_duplicates": len(dup),
             "rollup_objects": len(roll["objects"]), "rollup_rows": len(roll["rows"])}
    if a.brokers:
        ends = end_offsets(a.brokers, (RAW_TOPIC,) + ROLLUP_TOPICS)
        missing = []
        for (t, p), end in ends.items():
            if t != RAW_TOPIC:
                continue
            for o in range(end):
                if (t, p, o) not in raw["seen"]:
                    missing.append((p, o))
        extra = [k for k in raw["seen"] if k[2] >= ends.get((k[0], k[1]), 0)]
        facts["raw_in_kafka"] = sum(e for (t, _), e in ends.items() if t == RAW_TOPIC)
        facts["raw_missing"] = len(missing)
        if missing:
            problems.append("%d raw records missing from the archive (first: partition %d offset %d)" % (
                len(missing), missing[0][0], missing[0][1]))
        if extra:
            problems.append("%d archived raw records beyond Kafka's end offsets" % len(extra))
        in_kafka = sum(e for (t, _), e in ends.items() if t in ROLLUP_TOPICS)
        facts["rollups_in_kafka"] = in_kafka
        if in_kafka != len(roll["rows"]):
            problems.append("%d rollup rows archived, %d rollup records in Kafka" % (len(roll["rows"]), in_kafka))
    keys = collections.Counter((r["meter_id"], r["width"], r["window_start"], r["revision"]) for r in roll["rows"])
    twice = [k for k, n in keys.items() if n > 1]
    facts["rollup_duplicates"] = len(twice)
    if twice:
        problems.append("%d rollup (meter, width, window_start, revision) archived twice (first: %s)" % (
            len(twice), twice[0]))
    if a.pg and problems and a.wait:
        # Not all of Kafka is in S3 yet: the costly comparison waits for the next round.
        problems.append("PostgreSQL not compared yet")
    elif a.pg:
        best = {}
        for r in roll["rows"]:
            k = (r["meter_id"], r["width"], r["window_start"])
            if k not in best or r["revision"] > best[k]["revision"]:
                best[k] = r
        pg = pg_rollups(a.pg)
        facts["pg_closed_windows"] = len(pg)
        facts["archive_windows"] = len(best)
        miss = [k for k in pg if k not in best]
        more = [k for k in best if k not in pg]
        diff = []
        for k, want in pg.items():
            got = best.get(k)
            if got is None:
                continue
            bad = [f for f in FIELDS if not close(got[f], want[f])]
            if bad:
                diff.append((k, bad, {f: (got[f], want[f]) for f in bad}))
        facts["windows_equal"] = len(pg) - len(miss) - len(diff)
        if miss:
            problems.append("%d closed windows of PostgreSQL not in the archive (first: %s %s %s)" % (
                len(miss), miss[0][0], miss[0][1], iso_ms(miss[0][2])))
        if more:
            problems.append("%d archived windows not closed in PostgreSQL (first: %s %s %s)" % (
                len(more), more[0][0], more[0][1], iso_ms(more[0][2])))
        for k, bad, vals in diff[:5]:
            problems.append("window %s %s %s differs: %s" % (k[0], k[1], iso_ms(k[2]), vals))
        if len(diff) > 5:
            problems.append("... %d windows differ in all" % len(diff))
    return problems, facts


def summary(a, s3):
    problems = []
    raw = read_raw(s3, a.bucket, problems)
    roll = read_rollups(s3, a.bucket, problems)
    raw_bytes = sum(o[1] for o in raw["objects"])
    pq_bytes = sum(o[1] for o in roll["objects"])
    js = rollup_json_bytes(roll["rows"])
    f = {
        "raw_objects": len(raw["objects"]), "raw_bytes": raw_bytes, "raw_records": raw["lines"],
        "raw_json_bytes": raw["json_bytes"],
        "raw_hours": len({tuple(o[0].split("/")[1:5]) for o in raw["objects"]}),
        "analytics_objects": len(roll["objects"]), "analytics_bytes": pq_bytes,
        "analytics_rows": len(roll["rows"]), "analytics_json_bytes": js,
        "analytics_days": len({tuple(o[0].split("/")[1:4]) for o in roll["objects"]}),
        "parquet_vs_json": round(pq_bytes / js, 3) if js else 0,
    }
    return problems, f


def human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def main():
    ap = argparse.ArgumentParser(prog="s3-archive", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("summary", "check"))
    ap.add_argument("--endpoint", default=os.environ.get("S3_ENDPOINT", ""))
    ap.add_argument("--bucket", default=os.environ.get("S3_BUCKET", "meterflow-archive"))
    ap.add_argument("--brokers", help="Kafka, for the end offsets (check)")
    ap.add_argument("--pg", help="PostgreSQL DSN, for the rollup comparison (check)")
    ap.add_argument("--wait", type=float, default=0, help="check: retry until it passes, up to S seconds")
    ap.add_argument("--kv", action="store_true", help="key=value lines")
    a = ap.parse_args()
    s3 = s3_client(a)
    if a.command == "summary":
        problems, f = summary(a, s3)
        if a.kv:
            for k, v in f.items():
                print("%s=%s" % (k, v))
        else:
            print("  %-44s %10d objects, %s (%d readings, %d hours; %s as JSON lines)" % (
                "raw/ (JSON lines, gzip)", f["raw_objects"], human(f["raw_bytes"]), f["raw_records"],
                f["raw_hours"], human(f["raw_json_bytes"])))
            print("  %-44s %10d objects, %s (%d rollup rows, %d days)" % (
                "analytics/ (Parquet, Snappy)", f["analytics_objects"], human(f["analytics_bytes"]),
                f["analytics_rows"], f["analytics_days"]))
            if f["analytics_json_bytes"]:
                print("  %-44s %10s (%s as Parquet vs %s as JSON lines: %.0f %% smaller)" % (
                    "Parquet vs JSON, the same rollup rows", "%.2f" % f["parquet_vs_json"],
                    human(f["analytics_bytes"]), human(f["analytics_json_bytes"]),
                    100 * (1 - f["parquet_vs_json"])))
        for p in problems:
            print("s3-archive: " + p, file=sys.stderr)
        return 1 if problems else 0
    start = time.time()
    deadline = start + a.wait
    rounds = 0
    while True:
        rounds += 1
        problems, facts = check(a, s3)
        if a.wait:
            print("s3-archive: round %d at %.1f s: %s" % (rounds, time.time() - start,
                  problems[0] if problems else "passed"), file=sys.stderr)
        if not problems or time.time() >= deadline:
            break
        time.sleep(1)
    for k, v in facts.items():
        print("%s=%s" % (k, v))
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
