#!/usr/bin/python3
"""test_deploy.py: static checks of deploy/ against the contract and the programs.

There is no Docker engine and no Kubernetes on the machines that run this
suite, so nothing under deploy/ can be started. Instead every file is parsed
and held to the things it must agree with:

  * DESIGN §2's topic table (kept below: the repository's users have no
    access to the design document) and the local broker's own topic list;
  * each program's --help (the variables a manifest may set);
  * each program's /metrics (the metrics a rule or a dashboard may use),
    scraped from the real programs run against the real broker (tools/kafka-local)
    and a throw-away PostgreSQL (tests/lib/pgtmp.sh);
  * the libraries the built binaries link (the Dockerfile's runtime
    packages).

Until the programs are built, the checks that need them FAIL with a message
saying what is missing: a deployment that cannot be checked is not checked
OK. Environment: MF_TOP (repository root), MF_BIN_DIR (default build/bin).
Last line: "deploy: N passed, M failed"; exit 0 only if nothing failed.
"""

import copy
import fnmatch
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:  # pragma: no cover - the suite's deps install it
    print("deploy: python3-yaml is not installed (apt-get install python3-yaml)")
    print("deploy: 0 passed, 1 failed")
    sys.exit(1)

TOP = os.path.abspath(os.environ.get("MF_TOP") or
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("MF_BIN_DIR") or "build/bin"
if not os.path.isabs(BIN):
    BIN = os.path.join(TOP, BIN)
DEPLOY = os.path.join(TOP, "deploy")

PROGRAMS = ("ingest-gw", "stream-worker", "aggregator", "analytics-api", "source-sink")

# DESIGN §2: name -> (partitions, cleanup.policy, retention.ms or None).
SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000      # 604800000
THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000    # 2592000000
TOPICS = {
    "meter.readings.raw": (12, "delete", SEVEN_DAYS_MS),
    "meter.readings.validated": (12, "delete", SEVEN_DAYS_MS),
    "meter.readings.quarantine": (12, "delete", THIRTY_DAYS_MS),
    "meter.readings.dlq": (3, "delete", THIRTY_DAYS_MS),
    "meter.alerts": (3, "delete", THIRTY_DAYS_MS),
    "meter.state.changelog": (12, "compact", None),
    "meter.rollups.1m": (12, "delete", SEVEN_DAYS_MS),
    "meter.rollups.1h": (12, "delete", SEVEN_DAYS_MS),
    "grid.feeds": (3, "delete", THIRTY_DAYS_MS),
    "weather.observations": (3, "delete", THIRTY_DAYS_MS),
    "vehicle.telemetry": (6, "delete", SEVEN_DAYS_MS),
}
# DESIGN §2: these must always have the same partition count.
CO_PARTITIONED = ("meter.readings.raw", "meter.readings.validated", "meter.state.changelog",
                  "meter.rollups.1m", "meter.rollups.1h")

# DESIGN §9, plus the two the programs add (delivery errors, registry size).
CONTRACT_METRICS = {
    "meterflow_gw_requests_total", "meterflow_gw_readings_total",
    "meterflow_gw_request_duration_seconds",
    "meterflow_worker_records_total", "meterflow_worker_flags_total",
    "meterflow_worker_alerts_total", "meterflow_worker_state_meters",
    "meterflow_worker_restore_seconds", "meterflow_agg_windows_total",
    "meterflow_agg_late_records_total", "meterflow_agg_commit_duration_seconds",
    "meterflow_kafka_consumer_lag", "meterflow_event_lag_seconds", "meterflow_build_info",
    "meterflow_kafka_delivery_errors_total", "meterflow_worker_registry_meters",
    "meterflow_api_requests_total", "meterflow_api_request_duration_seconds",
    "meterflow_api_cache_total", "meterflow_review_oldest_pending_seconds",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Each program's defaults that the manifests must agree with (DESIGN §8).
DEFAULT_GROUP = {"stream-worker": "stream-worker", "aggregator": "aggregator",
                 "source-sink": "source-sink"}
# source-sink reads three topics; it scales on the largest, vehicle.telemetry.
INPUT_TOPIC_VAR = {"stream-worker": "TOPIC_RAW", "aggregator": "TOPIC_VALIDATED",
                   "source-sink": "TOPIC_VEHICLES"}
INPUT_TOPIC_DEFAULT = {"stream-worker": "meter.readings.raw",
                       "aggregator": "meter.readings.validated",
                       "source-sink": "vehicle.telemetry"}
# Programs that meet the others through PostgreSQL only (no Kafka client).
NO_KAFKA = {"analytics-api"}
LISTEN_VAR = {"ingest-gw": ("HTTP_ADDR", 8080), "stream-worker": ("METRICS_ADDR", 9100),
              "aggregator": ("METRICS_ADDR", 9100), "analytics-api": ("API_ADDR", 8090),
              "source-sink": ("METRICS_ADDR", 9100)}
IMAGE_UID = 10001
MIN_GRACE_S = 45            # programs finish within 30 s of SIGTERM (DESIGN §1)

# DESIGN 3.4: the rollup fields the Parquet schema must carry.
ROLLUP_FIELDS = {"meter_id", "width", "window_start", "count", "sum_kw", "avg_kw", "min_kw",
                 "max_kw", "stddev_kw", "stddev_pop_kw", "energy_kwh", "quality_avg", "premium", "standard",
                 "interpolated", "revision"}

# Packages a runtime stage may install besides the binaries' libraries.
RUNTIME_EXTRAS = {"ca-certificates", "curl"}
# Owners of NEEDED libraries that need no install line: libc6 is in every
# Debian base image; the sanitizer runtimes appear only when MF_BIN_DIR is a
# SANITIZE build, while the image builds the release variant.
IMPLICIT_PACKAGES = {"libc6", "libgcc-s1"}
SANITIZER_PACKAGES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\d*$")

FLEET_TIMEOUT_S = 60        # per program, to answer /healthz
STOP_TIMEOUT_S = 35         # SIGTERM -> exit, then SIGKILL


# ------------------------------------------------------------------ report

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, name, problems, detail=""):
        """One counted check: passes iff `problems` is empty."""
        if problems:
            self.failed.append(name)
            print("FAIL %s" % name)
            for p in problems:
                print("     - %s" % p)
        else:
            self.passed += 1
            print("ok   %s%s" % (name, (": " + detail) if detail else ""))


def rel(path):
    return os.path.relpath(path, TOP)


# ------------------------------------------------------------------ files

def deploy_files(*exts):
    out = []
    for root, dirs, files in os.walk(DEPLOY):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(exts):
                out.append(os.path.join(root, f))
    return out


YAML_DOCS = {}   # path -> list of documents (None docs dropped)
JSON_DOCS = {}   # path -> object


def check_parse(rep):
    yamls = deploy_files(".yml", ".yaml")
    jsons = deploy_files(".json")
    if not yamls and not jsons:
        rep.check("deploy/ has YAML and JSON files", ["nothing found under deploy/"])
        return
    for p in yamls:
        try:
            with open(p, encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
            YAML_DOCS[p] = docs
            rep.check("yaml parses: %s" % rel(p), [], "%d document(s)" % len(docs))
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
            rep.check("yaml parses: %s" % rel(p), [str(e).replace("\n", " ")])
    for p in jsons:
        try:
            with open(p, encoding="utf-8") as f:
                JSON_DOCS[p] = json.load(f)
            rep.check("json parses: %s" % rel(p), [])
        except (ValueError, OSError, UnicodeDecodeError) as e:
            rep.check("json parses: %s" % rel(p), [str(e)])


def load_yaml(path):
    if path in YAML_DOCS:
        return YAML_DOCS[path]
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ------------------------------------------------------------------ kustomize
#
# A small kustomize: resources (files and directories, recursively),
# strategic-merge patches (dicts merge; lists of named items merge by name,
# as kustomize does for containers, env, volumes, volumeMounts; other lists
# are replaced) and JSON 6902 patches (add/replace/remove). Enough to build
# the overlays in deploy/k8s and check what would really be applied; every
# path and patch target that does not resolve is reported.

KUST_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kust_file(d):
    for n in KUST_NAMES:
        p = os.path.join(d, n)
        if os.path.isfile(p):
            return p
    return None


def smp_merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = smp_merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        out = [copy.deepcopy(i) for i in base]
        index = {i["name"]: n for n, i in enumerate(out)}
        front = []
        for item in patch:
            if item["name"] in index:
                out[index[item["name"]]] = smp_merge(out[index[item["name"]]], item)
            else:
                front.append(copy.deepcopy(item))
        return front + out
    return copy.deepcopy(patch)


def json_pointer_apply(doc, op):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent = doc
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        idx = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(idx, op["value"])
        elif kind == "replace":
            parent[idx] = op["value"]
        elif kind == "remove":
            del parent[idx]
    else:
        if kind in ("replace", "remove") and last not in parent:
            raise KeyError(op["path"])
        if kind in ("add", "replace"):
            parent[last] = op["value"]
        elif kind == "remove":
            del parent[last]
    if kind not in ("add", "replace", "remove"):
        raise ValueError("unsupported op %s" % kind)


def matches_target(doc, target):
    meta = doc.get("metadata") or {}
    if "kind" in target and doc.get("kind") != target["kind"]:
        return False
    if "name" in target and not re.fullmatch(target["name"], meta.get("name", "")):
        return False
    if "group" in target:
        group = doc.get("apiVersion", "").split("/")[0] if "/" in doc.get("apiVersion", "") else ""
        if group != target["group"]:
            return False
    if "labelSelector" in target:
        labels = meta.get("labels") or {}
        for term in target["labelSelector"].split(","):
            k, _, v = term.partition("=")
            if labels.get(k.strip()) != v.strip():
                return False
    return True


def kustomize_build(d, problems, stack=()):
    """Returns the documents kustomize would emit for directory d."""
    kf = kust_file(d)
    if kf is None:
        problems.append("%s: no kustomization file" % rel(d))
        return []
    if d in stack:
        problems.append("%s: resource cycle" % rel(d))
        return []
    k = load_yaml(kf)[0] if load_yaml(kf) else {}
    docs = []

    def load_path(entry, what):
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            problems.append("%s: remote %s %s cannot be checked here" % (rel(kf), what, entry))
            return None
        p = os.path.normpath(os.path.join(d, entry))
        if os.path.isdir(p):
            return ("dir", p)
        if os.path.isfile(p):
            return ("file", p)
        problems.append("%s: %s %r does not exist" % (rel(kf), what, entry))
        return None

    for entry in (k.get("resources") or []) + (k.get("components") or []):
        got = load_path(entry, "resource")
        if got is None:
            continue
        if got[0] == "dir":
            docs += kustomize_build(got[1], problems, stack + (d,))
        else:
            docs += [copy.deepcopy(x) for x in load_yaml(got[1])]

    for gen in (k.get("configMapGenerator") or []) + (k.get("secretGenerator") or []):
        for f in (gen.get("files") or []) + (gen.get("envs") or []):
            f = f.split("=", 1)[-1]
            load_path(f, "generator file")

    patches = []
    for p in k.get("patches") or []:
        patches.append(p)
    for p in k.get("patchesStrategicMerge") or []:
        patches.append({"path": p} if isinstance(p, str) and "\n" not in p else {"patch": p})
    for p in k.get("patchesJson6902") or []:
        patches.append(p)

    for p in patches:
        target = p.get("target")
        if "path" in p:
            got = load_path(p["path"], "patch")
            if got is None:
                continue
            with open(got[1], encoding="utf-8") as f:
                text = f.read()
        else:
            text = p.get("patch", "")
        try:
            pdocs = [x for x in yaml.safe_load_all(text) if x is not None]
        except yaml.YAMLError as e:
            problems.append("%s: patch does not parse: %s" % (rel(kf), e))
            continue
        if len(pdocs) == 1 and isinstance(pdocs[0], list):          # JSON 6902
            if not target:
                problems.append("%s: a JSON 6902 patch needs a target" % rel(kf))
                continue
            hit = [x for x in docs if matches_target(x, target)]
            if not hit:
                problems.append("%s: patch target %s matches no resource" % (rel(kf), target))
            for x in hit:
                for op in pdocs[0]:
                    try:
                        json_pointer_apply(x, op)
                    except (KeyError, IndexError, ValueError, TypeError) as e:
                        problems.append("%s: op %s on %s/%s failed: %s" % (
                            rel(kf), op, x.get("kind"), x["metadata"].get("name"), e))
            continue
        for pd in pdocs:                                             # strategic merge
            if target:
                hit = [i for i, x in enumerate(docs) if matches_target(x, target)]
            else:
                key = (pd.get("kind"), (pd.get("metadata") or {}).get("name"))
                hit = [i for i, x in enumerate(docs)
                       if (x.get("kind"), (x.get("metadata") or {}).get("name")) == key]
            if not hit:
                problems.append("%s: patch for %s %s matches no resource" % (
                    rel(kf), pd.get("kind"), (pd.get("metadata") or {}).get("name")))
            for i in hit:
                docs[i] = smp_merge(docs[i], pd)

    images = [c.get("image", "") for x in docs for c in containers_of(x)]
    for im in k.get("images") or []:
        name = im.get("name")
        if not any(image_repo(i) == name for i in images):
            problems.append("%s: images entry %r matches no container image" % (rel(kf), name))
        for x in docs:
            for c in containers_of(x):
                if image_repo(c.get("image", "")) == name:
                    repo = im.get("newName", name)
                    c["image"] = repo + ":" + str(im.get("newTag", image_tag(c["image"])))
    if k.get("namespace"):
        for x in docs:
            if x.get("kind") != "Namespace":
                x.setdefault("metadata", {})["namespace"] = k["namespace"]
    return docs


def image_repo(image):
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last)] + last.split(":", 1)[0].split("@", 1)[0]


def image_tag(image):
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def containers_of(doc):
    if not isinstance(doc, dict) or doc.get("kind") not in (
            "Deployment", "StatefulSet", "DaemonSet", "Job"):
        return []
    spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return (spec.get("containers") or []) + (spec.get("initContainers") or [])


def kustomization_dirs():
    out = []
    for root, dirs, files in os.walk(os.path.join(DEPLOY, "k8s")):
        dirs.sort()
        if any(n in files for n in KUST_NAMES):
            out.append(root)
    return out


BUILDS = {}   # kustomization dir -> built docs (only those that built cleanly)


def check_kustomize(rep):
    dirs = kustomization_dirs()
    if not dirs:
        rep.check("kustomizations under deploy/k8s", ["none found"])
        return
    for d in dirs:
        problems = []
        try:
            docs = kustomize_build(d, problems)
        except (yaml.YAMLError, OSError, KeyError, TypeError, AttributeError) as e:
            problems.append("cannot build: %s" % e)
            docs = []
        if not problems:
            BUILDS[d] = docs
        rep.check("kustomization resolves: %s" % rel(d), problems,
                  "%d resources" % len(docs))


def program_of(container_name):
    return container_name if container_name in PROGRAMS else None


def env_dict(container):
    return {e.get("name"): e for e in container.get("env") or []}


# ------------------------------------------------------------------ topics

def compare_topics(found, source, check_policy=True):
    """found: name -> (partitions, policy or None, retention or None)."""
    problems = []
    for name in sorted(set(TOPICS) - set(found)):
        problems.append("%s: topic %s missing" % (source, name))
    for name in sorted(set(found) - set(TOPICS)):
        problems.append("%s: topic %s is not in DESIGN §2" % (source, name))
    for name in sorted(set(found) & set(TOPICS)):
        want_p, want_pol, want_ret = TOPICS[name]
        got_p, got_pol, got_ret = found[name]
        if got_p != want_p:
            problems.append("%s: %s has %s partitions, DESIGN §2 says %d" % (source, name, got_p, want_p))
        if check_policy:
            if got_pol != want_pol:
                problems.append("%s: %s cleanup.policy %s, DESIGN §2 says %s" % (
                    source, name, got_pol, want_pol))
            if got_ret != want_ret:
                problems.append("%s: %s retention.ms %s, DESIGN §2 says %s" % (
                    source, name, got_ret, want_ret))
    parts = {found[n][0] for n in CO_PARTITIONED if n in found}
    if len(parts) > 1:
        problems.append("%s: co-partitioned topics disagree on partitions: %s" % (
            source, {n: found[n][0] for n in CO_PARTITIONED if n in found}))
    return problems


def check_compose_topics(rep):
    path = os.path.join(DEPLOY, "compose", "init-topics.sh")
    problems = []
    found = {}
    if not os.path.isfile(path):
        rep.check("compose topic init matches DESIGN §2", ["%s missing" % rel(path)])
        return
    text = open(path, encoding="utf-8").read()
    consts = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=([0-9]+)\s*$", text, re.M))
    for m in re.finditer(r"^topic\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", text, re.M):
        name, parts, policy, ret = m.groups()
        ret = ret.strip('"')
        var = re.fullmatch(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", ret)
        if var:
            if var.group(1) not in consts:
                problems.append("retention variable %s of %s is not a constant" % (ret, name))
                continue
            ret = consts[var.group(1)]
        try:
            found[name] = (int(parts), policy, None if ret == "-" else int(ret))
        except ValueError:
            problems.append("cannot read the line for %s" % name)
    problems += compare_topics(found, rel(path))
    # The compose file must run that script.
    compose = compose_doc()
    init = None
    for sname, svc in (compose.get("services") or {}).items():
        if any("init-topics.sh" in str(v) for v in (svc.get("volumes") or [])):
            init = sname
    if init is None:
        problems.append("no compose service mounts init-topics.sh")
    rep.check("compose topic init matches DESIGN §2", problems,
              "%d topics via service %s" % (len(found), init))


def check_strimzi_topics(rep):
    builds = {d: docs for d, docs in BUILDS.items()
              if any(x.get("kind") == "KafkaTopic" for x in docs)}
    if not builds:
        rep.check("Strimzi KafkaTopics match DESIGN §2",
                  ["no kustomization under deploy/k8s builds KafkaTopic resources"])
        return
    for d, docs in sorted(builds.items()):
        found, problems = {}, []
        for x in docs:
            if x.get("kind") != "KafkaTopic":
                continue
            spec = x.get("spec") or {}
            name = spec.get("topicName") or x["metadata"]["name"]
            cfg = spec.get("config") or {}
            ret = cfg.get("retention.ms")
            if name in found:
                problems.append("topic %s defined twice" % name)
            if not (x["metadata"].get("labels") or {}).get("strimzi.io/cluster"):
                problems.append("%s has no strimzi.io/cluster label" % name)
            replicas = spec.get("replicas")
            isr = cfg.get("min.insync.replicas")
            if isinstance(replicas, int) and isr is not None and int(isr) > replicas:
                problems.append("%s: min.insync.replicas %s > replicas %s" % (name, isr, replicas))
            found[name] = (spec.get("partitions"), cfg.get("cleanup.policy"),
                           int(ret) if ret is not None else None)
        problems += compare_topics(found, rel(d))
        rep.check("Strimzi KafkaTopics match DESIGN §2: %s" % rel(d), problems,
                  "%d topics" % len(found))


def check_broker_topics(rep):
    name = "local broker's topics (mf-localbroker --list-topics) match DESIGN §2"
    broker = os.path.join(BIN, "mf-localbroker")
    if not os.access(broker, os.X_OK):
        rep.check(name, ["%s not found: build it (make)" % broker])
        return
    try:
        r = subprocess.run([broker, "--list-topics"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        rep.check(name, ["mf-localbroker --list-topics did not exit within 30 s "
                         "(does it support the flag?)"])
        return
    found = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", line)
        if m:
            found[m.group(1)] = (int(m.group(2)), None, None)
    if r.returncode != 0 or not found:
        first = (r.stderr or r.stdout).strip().splitlines()[:1]
        rep.check(name, ["mf-localbroker --list-topics failed (exit %d%s): it must print "
                         "one 'NAME PARTITIONS' line per topic" % (
                             r.returncode, ", " + first[0] if first else "")])
        return
    rep.check(name, compare_topics(found, "mf-localbroker", check_policy=False),
              "%d topics" % len(found))


def check_real_broker_topics(rep):
    """tools/kafka-local creates its topics with mf-topics: names, partitions and policies."""
    name = "real local broker's topics (mf-topics --list) match DESIGN §2 with their policies"
    exe = os.path.join(BIN, "mf-topics")
    if not os.access(exe, os.X_OK):
        rep.check(name, ["%s not found: build it (make)" % exe])
        return
    r = subprocess.run([exe, "--list"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    found = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(\S+) (\d+) (delete|compact) (-?\d+)", line.strip())
        if m:
            ret = int(m.group(4))
            found[m.group(1)] = (int(m.group(2)), m.group(3), ret if ret >= 0 else None)
    if r.returncode != 0 or not found:
        rep.check(name, ["mf-topics --list failed (exit %d): it must print "
                         "'NAME PARTITIONS POLICY RETENTION_MS' lines" % r.returncode])
        return
    rep.check(name, compare_topics(found, "mf-topics"), "%d topics" % len(found))


# ------------------------------------------------------------------ connect

def connector_configs():
    out = {}
    for p in sorted(glob.glob(os.path.join(DEPLOY, "connect", "*.json"))):
        if p in JSON_DOCS:
            cfg = JSON_DOCS[p]
            out[p] = cfg.get("config", cfg) if isinstance(cfg, dict) else {}
    return out


def check_connectors(rep):
    configs = connector_configs()
    if not configs:
        rep.check("S3 sink connector configs", ["no deploy/connect/*.json"])
        return
    covered = {}
    for path, cfg in configs.items():
        problems = []
        stem = os.path.splitext(os.path.basename(path))[0]
        if cfg.get("name") != stem:
            problems.append("\"name\" is %r, must equal the file name %r (PUT "
                            "/connectors/<name>/config)" % (cfg.get("name"), stem))
        topics = [t.strip() for t in str(cfg.get("topics", "")).split(",") if t.strip()]
        if not topics:
            problems.append("no \"topics\"")
        for t in topics:
            if t not in TOPICS:
                problems.append("topic %s is not in DESIGN §2" % t)
            covered[t] = (path, cfg)
        for k in cfg:
            if re.search(r"secret|password", k, re.I):
                problems.append("%s in a connector config: credentials belong to the "
                                "Connect worker's environment" % k)
        tasks = int(cfg.get("tasks.max", 1))
        maxp = max((TOPICS[t][0] for t in topics if t in TOPICS), default=1)
        if tasks > maxp:
            problems.append("tasks.max %d > %d partitions" % (tasks, maxp))
        # meterflow's sink (tools/connect): a replay overwrites an object only
        # if its name carries topic, partition and start offset.
        tmpl = str(cfg.get("file.name.template", ""))
        for v in ("{{topic}}", "{{partition}}", "{{start_offset}}"):
            if v not in tmpl:
                problems.append("file.name.template %r lacks %s" % (tmpl, v))
        # One file for every machine: the endpoint and bucket come from the
        # worker's environment (tools/connect-local, compose, a cluster).
        for k, want in (("s3.endpoint", "${env:S3_ENDPOINT}"), ("s3.bucket.name", "${env:S3_BUCKET}")):
            if cfg.get(k) != want:
                problems.append("%s is %r, want %r" % (k, cfg.get(k), want))
        rep.check("connector %s is consistent" % rel(path), problems, ", ".join(topics))

    # The archive layout the issue asks for.
    problems = []
    raw = covered.get("meter.readings.raw")
    if raw is None:
        problems.append("no connector archives meter.readings.raw")
    else:
        cfg = raw[1]
        if cfg.get("format") != "jsonl":
            problems.append("raw archive is not JSON lines (format jsonl)")
        if not str(cfg.get("file.name.template", "")).startswith("raw/{{yyyy}}/{{MM}}/{{dd}}/{{HH}}/"):
            problems.append("raw file.name.template %r is not raw/YYYY/MM/DD/HH/..." % cfg.get("file.name.template"))
        if cfg.get("timestamp.source") != "field:ts":
            problems.append("raw archive is not by event hour (timestamp.source field:ts)")
    for t in ("meter.rollups.1m", "meter.rollups.1h"):
        got = covered.get(t)
        if got is None:
            problems.append("no connector archives %s" % t)
            continue
        cfg = got[1]
        if cfg.get("format") != "parquet" or cfg.get("parquet.codec") != "snappy":
            problems.append("%s is not archived as Parquet with Snappy" % t)
        if not re.fullmatch(r"analytics/\{\{yyyy\}\}/\{\{MM\}\}/\{\{dd\}\}/[^/]*",
                            str(cfg.get("file.name.template", ""))):
            problems.append("%s file.name.template %r is not analytics/YYYY/MM/DD/..." % (
                t, cfg.get("file.name.template")))
        if cfg.get("timestamp.source") != "field:window_start":
            problems.append("%s is not filed by its window's day (timestamp.source field:window_start)" % t)
        schemaless = ("JsonConverter" in str(cfg.get("value.converter", ""))
                      and str(cfg.get("value.converter.schemas.enable", "true")).lower() == "false")
        transforms = [x.strip() for x in str(cfg.get("transforms", "")).split(",") if x.strip()]
        if schemaless and not any("ApplySchema" in str(cfg.get("transforms.%s.type" % x, ""))
                                  for x in transforms):
            problems.append("%s: Parquet needs a schema, and the value converter is schemaless" % t)
    rep.check("S3 archive layout: raw as hourly JSON, rollups as daily Parquet", problems)


def check_connect_schema(rep):
    """The schema the ApplySchema transform gives the rollups vs the rollup contract."""
    problems = []
    used = []
    for path, cfg in connector_configs().items():
        for k, v in cfg.items():
            if k.endswith(".schema.content") and "ApplySchema" in str(cfg.get(k[:-len("schema.content")] + "type", "")):
                used.append((path, v))
    if not used:
        rep.check("rollup Parquet schema matches the rollup contract",
                  ["no connector applies a schema (transforms.<name>.schema.content)"])
        return
    contract = os.path.join(TOP, "schemas", "rollup.schema.json")
    cs = json.load(open(contract, encoding="utf-8")) if os.path.isfile(contract) else {}
    if not cs:
        problems.append("schemas/rollup.schema.json (the contract's schema) is missing")
    cprops = cs.get("properties") or {}
    creq = set(cs.get("required") or [])
    # Connect types per contract type ("$ref" utc_ms: a Connect Timestamp).
    fits = {"string": {"string"}, "integer": {"int32", "int64"}, "number": {"double", "float"}}
    for path, content in used:
        try:
            schema = json.loads(content)
        except ValueError as e:
            problems.append("%s: schema.content is not JSON: %s" % (rel(path), e))
            continue
        fields = {f.get("field"): f for f in schema.get("fields") or []}
        if schema.get("type") != "struct" or set(fields) != ROLLUP_FIELDS:
            problems.append("%s: fields %s differ from DESIGN 3.4 (missing %s, extra %s)" % (
                rel(path), sorted(fields), sorted(ROLLUP_FIELDS - set(fields)),
                sorted(set(fields) - ROLLUP_FIELDS)))
        ws = fields.get("window_start") or {}
        if ws.get("type") != "int64" or ws.get("name") != "org.apache.kafka.connect.data.Timestamp":
            problems.append("%s: window_start must be an int64 org.apache.kafka.connect.data.Timestamp" % rel(path))
        for k, f in fields.items():
            c = cprops.get(k)
            if c is None or k == "window_start":
                continue
            ct = c.get("type") or ("string" if "enum" in c or "$ref" in c else None)
            # ["number", "null"]: required but may be null, so optional in Connect's terms.
            nullable = isinstance(ct, list) and "null" in ct
            if isinstance(ct, list):
                ct = next((t for t in ct if t != "null"), None)
            if ct in fits and f.get("type") not in fits[ct]:
                problems.append("%s: %s is %s here, %s in schemas/rollup.schema.json" % (
                    rel(path), k, f.get("type"), ct))
            if (k in creq and not nullable) == bool(f.get("optional")):
                problems.append("%s: %s is %s here, %s by the contract" % (
                    rel(path), k, "optional" if f.get("optional") else "required",
                    "required" if k in creq else "optional"))
    rep.check("rollup Parquet schema matches the rollup contract", problems)


def check_connect_readme(rep):
    path = os.path.join(DEPLOY, "connect", "README.md")
    if not os.path.isfile(path):
        rep.check("deploy/connect/README.md explains every connector setting", ["missing"])
        return
    text = open(path, encoding="utf-8").read()
    problems = []
    for p, cfg in connector_configs().items():
        for k in cfg:
            key = re.sub(r"^transforms\.[^.]+\.", "transforms.<name>.", k)
            if "`%s`" % k not in text and "`%s`" % key not in text:
                problems.append("%s (%s) is not explained" % (k, os.path.basename(p)))
    rep.check("deploy/connect/README.md explains every connector setting", problems)


# ------------------------------------------------------------------ compose

_COMPOSE = None


def compose_doc():
    global _COMPOSE
    if _COMPOSE is None:
        p = os.path.join(DEPLOY, "compose", "docker-compose.yml")
        try:
            docs = load_yaml(p)
            _COMPOSE = docs[0] if docs else {}
        except (OSError, yaml.YAMLError):
            _COMPOSE = {}
    return _COMPOSE


def compose_program_services():
    """service name -> (program, service) for services built from our Dockerfile."""
    out = {}
    for name, svc in (compose_doc().get("services") or {}).items():
        b = svc.get("build")
        if isinstance(b, dict) and "deploy/docker/Dockerfile" in str(b.get("dockerfile", "")):
            out[name] = (b.get("target"), svc)
    return out


def parse_duration_s(v):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(v))
    if not m or not any(m.groups()):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def compose_env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def check_compose(rep):
    c = compose_doc()
    services = c.get("services") or {}
    problems = []
    if not services:
        rep.check("compose stack is complete", ["deploy/compose/docker-compose.yml has no services"])
        return
    images = {n: str(s.get("image", "")) for n, s in services.items()}

    def has(pred, what):
        if not any(pred(n, s) for n, s in services.items()):
            problems.append("no service runs %s" % what)

    has(lambda n, s: "kafka" in images[n] and "controller" in str(
        compose_env(s).get("KAFKA_PROCESS_ROLES", "")), "Kafka in KRaft mode (KAFKA_PROCESS_ROLES)")
    has(lambda n, s: images[n].startswith("postgres:15"), "PostgreSQL 15")
    has(lambda n, s: images[n].startswith("minio/minio"), "MinIO")
    has(lambda n, s: "mc mb" in json.dumps(s.get("entrypoint", "")) + json.dumps(s.get("command", "")),
        "the bucket init (mc mb)")
    has(lambda n, s: "connect.Dockerfile" in str((s.get("build") or {}).get("dockerfile", ""))
        and "plugin.path=" in json.dumps(s.get("command", "")),
        "Kafka Connect with the S3 sink plugin (deploy/docker/connect.Dockerfile)")
    has(lambda n, s: any("connect" in str(v) and "init-connectors" not in str(v)
                         for v in s.get("volumes") or []) and "init-connectors" in json.dumps(s.get("entrypoint", "")),
        "the connector registration")
    progs = compose_program_services()
    for p in PROGRAMS:
        if p not in {t for t, _ in progs.values()}:
            problems.append("no service builds program %s from deploy/docker/Dockerfile" % p)
    kafka_init = [n for n, s in services.items()
                  if any("init-topics.sh" in str(v) for v in s.get("volumes") or [])]
    for name, (prog, svc) in progs.items():
        b = svc["build"]
        ctx = os.path.normpath(os.path.join(DEPLOY, "compose", b.get("context", ".")))
        if ctx != TOP:
            problems.append("%s: build context %s is not the repository root" % (name, ctx))
        if not os.path.isfile(os.path.join(ctx, b.get("dockerfile", ""))):
            problems.append("%s: dockerfile %s not found from the context" % (name, b.get("dockerfile")))
        grace = parse_duration_s(svc.get("stop_grace_period", "10s"))
        if grace is None or grace < MIN_GRACE_S:
            problems.append("%s: stop_grace_period %s < %ds (the program needs up to 30 s to commit)" % (
                name, svc.get("stop_grace_period", "10s (default)"), MIN_GRACE_S))
        deps = svc.get("depends_on") or {}
        if prog in NO_KAFKA:
            pass
        elif kafka_init and not any(k in deps for k in kafka_init):
            problems.append("%s does not wait for the topic init" % name)
        if isinstance(deps, dict) and kafka_init:
            for k in kafka_init:
                if k in deps and (deps[k] or {}).get("condition") != "service_completed_successfully":
                    problems.append("%s: depends on %s without service_completed_successfully" % (name, k))
        env = compose_env(svc)
        brokers = env.get("KAFKA_BROKERS", "")
        host = brokers.split(",")[0].rsplit(":", 1)[0]
        if host not in services and prog not in NO_KAFKA:
            problems.append("%s: KAFKA_BROKERS=%s names no compose service" % (name, brokers))
        if prog != "ingest-gw":
            dsn = env.get("PG_DSN") or ""
            m = re.search(r"host=(\S+)", dsn)
            if not m or m.group(1) not in services:
                problems.append("%s: PG_DSN host names no compose service" % name)
    for name, svc in services.items():
        for v in svc.get("volumes") or []:
            if isinstance(v, str) and v.startswith((".", "/")):
                src = os.path.normpath(os.path.join(DEPLOY, "compose", v.split(":")[0]))
                if not os.path.exists(src):
                    problems.append("%s: volume source %s does not exist" % (name, rel(src)))
    rep.check("compose stack is complete and wired", problems, "%d services" % len(services))


# ------------------------------------------------------------------ programs' --help

_HELP = {}


def help_vars(program):
    """(set of documented variables, error) from `program --help`."""
    if program in _HELP:
        return _HELP[program]
    exe = os.path.join(BIN, program)
    if not os.access(exe, os.X_OK):
        _HELP[program] = (None, "%s not found: build it (make)" % exe)
        return _HELP[program]
    try:
        r = subprocess.run([exe, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=20, env=clean_env({}))
    except subprocess.TimeoutExpired:
        _HELP[program] = (None, "%s --help did not exit within 20 s" % exe)
        return _HELP[program]
    names, in_env = set(), False
    for line in r.stdout.splitlines():
        if re.match(r"^Environment\b.*:\s*$", line):
            in_env = True
            continue
        if in_env:
            if line and not line.startswith(" "):
                in_env = False
                continue
            m = re.match(r"^  ([A-Z][A-Z0-9_]*)(?=\s|$)", line)
            if m:
                names.add(m.group(1))
    if r.returncode != 0 or not names:
        _HELP[program] = (None, "%s --help exited %d without an 'Environment:' section" % (
            exe, r.returncode))
    else:
        _HELP[program] = (names, None)
    return _HELP[program]


def env_allowed(name, documented):
    if name in documented:
        return True
    # The librdkafka pass-through: KAFKA_<PROP> (DESIGN §8). KAFKA_BROKERS is
    # documented on its own; any other KAFKA_ name is a librdkafka property.
    return re.fullmatch(r"KAFKA_[A-Z0-9_]+", name) is not None


def manifest_envs():
    """[(source, program, {name: value-or-None})] for every place that sets a
    program's environment: the compose services and every kustomize build."""
    out = []
    for name, (prog, svc) in compose_program_services().items():
        out.append(("compose service %s" % name, prog, compose_env(svc)))
    for d, docs in sorted(BUILDS.items()):
        for x in docs:
            for c in containers_of(x):
                prog = program_of(c.get("name"))
                if prog is None:
                    continue
                vals = {}
                for e in c.get("env") or []:
                    vals[e.get("name")] = e.get("value")
                out.append(("%s %s/%s" % (rel(d), x["kind"], x["metadata"]["name"]), prog, vals))
    return out


def check_env(rep):
    envs = manifest_envs()
    if not envs:
        rep.check("manifests set program environments", ["no compose service or Deployment found"])
        return
    by_prog = {}
    for source, prog, vals in envs:
        by_prog.setdefault(prog, []).append((source, vals))
    for prog in PROGRAMS:
        name = "every variable set for %s is documented by its --help" % prog
        sources = by_prog.get(prog, [])
        if not sources:
            rep.check(name, ["no manifest runs %s" % prog])
            continue
        documented, err = help_vars(prog)
        if err:
            rep.check(name, [err])
            continue
        problems = []
        for source, vals in sources:
            for v in sorted(vals):
                if not env_allowed(v, documented):
                    problems.append("%s sets %s, which %s --help does not document" % (source, v, prog))
        n = sum(len(v) for _, v in sources)
        rep.check(name, problems, "%d settings in %d places" % (n, len(sources)))
    # Duplicated names: the later one silently wins in Kubernetes.
    problems = []
    for d, docs in sorted(BUILDS.items()):
        for x in docs:
            for c in containers_of(x):
                names = [e.get("name") for e in c.get("env") or []]
                dup = sorted({n for n in names if names.count(n) > 1})
                if dup:
                    problems.append("%s %s/%s sets %s twice" % (rel(d), x["kind"], c.get("name"), dup))
    rep.check("no container sets a variable twice", problems)


# ------------------------------------------------------------------ Kubernetes objects

def labels_match(selector, labels):
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        val = labels.get(e["key"])
        op = e["operator"]
        if op == "In" and val not in e.get("values", []):
            return False
        if op == "NotIn" and val in e.get("values", []):
            return False
        if op == "Exists" and val is None:
            return False
        if op == "DoesNotExist" and val is not None:
            return False
    return True


def listen_port(prog, container):
    var, default = LISTEN_VAR[prog]
    v = (env_dict(container).get(var) or {}).get("value")
    if v:
        try:
            return int(v.rsplit(":", 1)[1])
        except (ValueError, IndexError):
            return None
    return default


def resolve_port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_deployments(rep):
    builds = {d: docs for d, docs in BUILDS.items() if any(x.get("kind") == "Deployment" for x in docs)}
    if not builds:
        rep.check("Deployments", ["no kustomization builds a Deployment"])
        return
    for d, docs in sorted(builds.items()):
        deps = [x for x in docs if x.get("kind") == "Deployment"]
        for prog in PROGRAMS:
            name = "%s: Deployment %s is production-ready" % (rel(d), prog)
            dep = [x for x in deps if any(c.get("name") == prog for c in containers_of(x))]
            if len(dep) != 1:
                rep.check(name, ["%d Deployments run a container named %s" % (len(dep), prog)])
                continue
            dep = dep[0]
            problems = []
            tspec = dep["spec"]["template"]["spec"]
            c = [c for c in tspec["containers"] if c.get("name") == prog][0]
            grace = tspec.get("terminationGracePeriodSeconds", 30)
            if grace < MIN_GRACE_S:
                problems.append("terminationGracePeriodSeconds %s < %d" % (grace, MIN_GRACE_S))
            port = listen_port(prog, c)
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                pr = (c.get(probe) or {}).get("httpGet")
                if not pr:
                    problems.append("no HTTP %s" % probe)
                    continue
                if pr.get("path") != path:
                    problems.append("%s path %s, expected %s" % (probe, pr.get("path"), path))
                if resolve_port(c, pr.get("port")) != port:
                    problems.append("%s port %s is not the listening port %s" % (probe, pr.get("port"), port))
            res = c.get("resources") or {}
            for k in ("cpu", "memory"):
                if k not in (res.get("requests") or {}):
                    problems.append("no resources.requests.%s" % k)
            if "memory" not in (res.get("limits") or {}):
                problems.append("no resources.limits.memory")
            psc = tspec.get("securityContext") or {}
            csc = c.get("securityContext") or {}
            if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
                problems.append("runAsNonRoot is not set")
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if uid != IMAGE_UID:
                problems.append("runAsUser %s is not the image's user %d" % (uid, IMAGE_UID))
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append("allowPrivilegeEscalation is not false")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append("readOnlyRootFilesystem is not true")
            ann = dep["spec"]["template"].get("metadata", {}).get("annotations") or {}
            if ann.get("prometheus.io/scrape") != "true":
                problems.append("no prometheus.io/scrape: \"true\" annotation")
            if str(ann.get("prometheus.io/port")) != str(port):
                problems.append("prometheus.io/port %s is not the listening port %s" % (
                    ann.get("prometheus.io/port"), port))
            if ann.get("prometheus.io/path", "/metrics") != "/metrics":
                problems.append("prometheus.io/path is not /metrics")
            labels = dep["spec"]["template"].get("metadata", {}).get("labels") or {}
            pdbs = [x for x in docs if x.get("kind") == "PodDisruptionBudget"
                    and labels_match(x["spec"].get("selector") or {}, labels)]
            if len(pdbs) != 1:
                problems.append("%d PodDisruptionBudgets select its pods (want 1)" % len(pdbs))
            scalers = [x for x in docs if x.get("kind") in ("ScaledObject", "HorizontalPodAutoscaler")
                       and (x["spec"].get("scaleTargetRef") or {}).get("name") == dep["metadata"]["name"]]
            if not scalers:
                problems.append("no ScaledObject or HorizontalPodAutoscaler scales it")
            elif "replicas" in dep["spec"]:
                problems.append("spec.replicas is set although an autoscaler owns the count "
                                "(every apply would reset it)")
            if prog == "ingest-gw":
                svcs = [x for x in docs if x.get("kind") == "Service"
                        and labels_match({"matchLabels": x["spec"].get("selector") or {}}, labels)]
                if not svcs:
                    problems.append("no Service selects the gateway")
                for s in svcs:
                    for sp in s["spec"].get("ports") or []:
                        if resolve_port(c, sp.get("targetPort", sp.get("port"))) != port:
                            problems.append("Service %s targets port %s, not %s" % (
                                s["metadata"]["name"], sp.get("targetPort"), port))
            pols = [x for x in docs if x.get("kind") == "NetworkPolicy"
                    and labels_match(x["spec"].get("podSelector") or {}, labels)
                    and "Ingress" in (x["spec"].get("policyTypes") or ["Ingress"])]
            if not pols:
                problems.append("no NetworkPolicy covers its pods")
            elif not any(resolve_port(c, p.get("port")) == port
                         for x in pols for r in x["spec"].get("ingress") or []
                         for p in r.get("ports") or []):
                problems.append("no NetworkPolicy admits its listening port %s (metrics, probes)" % port)
            rep.check(name, problems)


def check_keda(rep):
    found = False
    for d, docs in sorted(BUILDS.items()):
        deps = {x["metadata"]["name"]: x for x in docs if x.get("kind") == "Deployment"}
        for so in [x for x in docs if x.get("kind") == "ScaledObject"]:
            found = True
            spec = so.get("spec") or {}
            name = "%s: ScaledObject %s scales on its group's lag within the partitions" % (
                rel(d), so["metadata"]["name"])
            problems = []
            target = (spec.get("scaleTargetRef") or {}).get("name")
            dep = deps.get(target)
            if dep is None:
                rep.check(name, ["scaleTargetRef %s is not a Deployment of this build" % target])
                continue
            prog = next((c["name"] for c in containers_of(dep) if c.get("name") in PROGRAMS), None)
            c = next((c for c in containers_of(dep) if c.get("name") == prog), {})
            env = {k: (v or {}).get("value") for k, v in env_dict(c).items()}
            triggers = spec.get("triggers") or []
            kafka = [t for t in triggers if t.get("type") == "kafka"]
            if not kafka:
                problems.append("no kafka trigger")
            maxr = spec.get("maxReplicaCount", 100)
            minr = spec.get("minReplicaCount", 0)
            if minr < 1:
                problems.append("minReplicaCount %s: scaling to zero stops the pipeline "
                                "(and the aggregator's idle flush)" % minr)
            for t in kafka:
                md = t.get("metadata") or {}
                topic = md.get("topic")
                if topic not in TOPICS:
                    problems.append("trigger topic %s is not in DESIGN §2" % topic)
                    continue
                if maxr > TOPICS[topic][0]:
                    problems.append("maxReplicaCount %s > %d partitions of %s" % (
                        maxr, TOPICS[topic][0], topic))
                if prog in DEFAULT_GROUP:
                    group = env.get("GROUP_ID") or DEFAULT_GROUP[prog]
                    if md.get("consumerGroup") != group:
                        problems.append("consumerGroup %s but %s runs as group %s" % (
                            md.get("consumerGroup"), prog, group))
                    in_topic = env.get(INPUT_TOPIC_VAR[prog]) or INPUT_TOPIC_DEFAULT[prog]
                    if topic != in_topic:
                        problems.append("trigger topic %s but %s consumes %s" % (topic, prog, in_topic))
                else:
                    problems.append("%s is not a consumer-group program" % prog)
                try:
                    if int(md.get("lagThreshold", "0")) <= 0:
                        problems.append("lagThreshold must be a positive integer")
                except ValueError:
                    problems.append("lagThreshold %r is not an integer" % md.get("lagThreshold"))
                if str(md.get("allowIdleConsumers", "false")).lower() != "false":
                    problems.append("allowIdleConsumers would scale past the partition count")
                brokers = env.get("KAFKA_BROKERS")
                if brokers and md.get("bootstrapServers") != brokers:
                    problems.append("bootstrapServers %s differs from the program's KAFKA_BROKERS %s" % (
                        md.get("bootstrapServers"), brokers))
                auth = (t.get("authenticationRef") or {}).get("name")
                if auth and not any(x.get("kind") in ("TriggerAuthentication", "ClusterTriggerAuthentication")
                                    and x["metadata"]["name"] == auth for x in docs):
                    problems.append("authenticationRef %s is not defined" % auth)
                if env.get("KAFKA_SECURITY_PROTOCOL", "").upper().startswith("SASL") and not auth:
                    problems.append("the program uses SASL but the trigger has no authenticationRef")
            rep.check(name, problems, "max %s" % maxr)
    if not found:
        rep.check("KEDA ScaledObjects", ["no kustomization builds a ScaledObject"])


def referenced_secrets(docs):
    refs = set()
    for x in docs:
        for c in containers_of(x):
            for e in c.get("env") or []:
                r = ((e.get("valueFrom") or {}).get("secretKeyRef"))
                if r:
                    refs.add((r.get("name"), r.get("key")))
        spec = ((x.get("spec") or {}).get("template") or {}).get("spec") or {}
        for v in spec.get("volumes") or []:
            s = v.get("secret")
            if s:
                keys = [i.get("key") for i in s.get("items") or []] or [None]
                for k in keys:
                    refs.add((s.get("secretName"), k))
        if x.get("kind") in ("TriggerAuthentication", "ClusterTriggerAuthentication"):
            for r in (x.get("spec") or {}).get("secretTargetRef") or []:
                refs.add((r.get("name"), r.get("key")))
    return refs


def check_secrets(rep):
    overlays = sorted(d for d in BUILDS if os.sep + "overlays" + os.sep in d + os.sep)
    if not overlays:
        rep.check("overlays' Secrets", ["no overlay builds"])
        return
    for d in overlays:
        docs = BUILDS[d]
        provided = {}
        for x in docs:
            if x.get("kind") == "Secret":
                provided[x["metadata"]["name"]] = set((x.get("stringData") or {}).keys()) | set(
                    (x.get("data") or {}).keys())
        in_build = set(provided)
        example = os.path.join(d, "secrets.example.yaml")
        if os.path.isfile(example):
            for x in load_yaml(example):
                if x.get("kind") == "Secret":
                    provided.setdefault(x["metadata"]["name"], set()).update(
                        set((x.get("stringData") or {}).keys()) | set((x.get("data") or {}).keys()))
        problems = []
        refs = referenced_secrets(docs)
        for name, key in sorted(refs, key=str):
            if name not in provided:
                problems.append("Secret %s is referenced but neither built nor described in "
                                "secrets.example.yaml" % name)
            elif key is not None and key not in provided[name]:
                problems.append("Secret %s has no key %s" % (name, key))
        rep.check("%s: every referenced Secret and key exists" % rel(d), problems,
                  "%d references, %d built, %d described" % (len(refs), len(in_build), len(provided)))


# ------------------------------------------------------------------ metrics

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
                   "bool", "and", "or", "unless", "inf", "nan", "atan2"}


def promql_metrics(expr):
    """Metric names an expression reads (functions, keywords, labels removed)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"#[^\n]*", " ", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        tok = m.group(0)
        if s[m.end():].lstrip().startswith("("):
            continue                              # a function or an aggregation
        if tok.lower() in PROMQL_KEYWORDS:
            continue
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue                              # 1e3, 5m
        names.add(tok)
    return names


def rule_exprs():
    path = os.path.join(DEPLOY, "observability", "prometheus-rules.yml")
    out = []
    for doc in YAML_DOCS.get(path, []):
        groups = doc.get("groups") or ((doc.get("spec") or {}).get("groups")) or []
        for g in groups:
            for r in g.get("rules") or []:
                out.append((r.get("alert") or r.get("record"), str(r.get("expr", "")), r))
    return path, out


def dashboard_exprs():
    path = os.path.join(DEPLOY, "observability", "grafana-dashboard.json")
    dash = JSON_DOCS.get(path) or {}
    out = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets") or []:
                if t.get("expr"):
                    out.append((p.get("title"), t["expr"]))
            walk(p.get("panels"))
    walk(dash.get("panels"))
    for v in (dash.get("templating") or {}).get("list") or []:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and isinstance(q, str):
            m = re.match(r"\s*label_values\(\s*([^,)]+)", q)
            out.append(("variable " + v.get("name", "?"), m.group(1) if m else q))
    return path, out


def base_metric(name, families=None):
    if families is None:
        families = {n: "histogram" for n in CONTRACT_METRICS}
    if name in families:
        return name
    for suf in HISTOGRAM_SUFFIXES:
        if name.endswith(suf) and families.get(name[: -len(suf)]) in ("histogram", "summary"):
            return name[: -len(suf)]
    return None


def referenced_metrics():
    refs = {}
    _, rules = rule_exprs()
    for name, expr, _ in rules:
        for m in promql_metrics(expr):
            refs.setdefault(m, set()).add("rule " + str(name))
    _, panels = dashboard_exprs()
    for title, expr in panels:
        for m in promql_metrics(expr):
            refs.setdefault(m, set()).add("panel " + str(title))
    return refs


def check_rules(rep):
    path, rules = rule_exprs()
    if not rules:
        rep.check("alert rules", ["%s has no rules" % rel(path)])
        return
    problems = []
    seen = set()
    for name, expr, r in rules:
        if "alert" not in r:
            continue
        if name in seen:
            problems.append("alert %s defined twice" % name)
        seen.add(name)
        if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
            problems.append("%s: labels.severity must be critical, warning or info" % name)
        if not (r.get("annotations") or {}).get("summary"):
            problems.append("%s: no annotations.summary" % name)
        if "for" in r and parse_duration_s(r["for"]) is None and not re.fullmatch(r"\d+h", str(r["for"])):
            problems.append("%s: bad duration for: %s" % (name, r["for"]))
        if expr.count("(") != expr.count(")"):
            problems.append("%s: unbalanced parentheses" % name)
    # The list of alerts, each recognised by what its expression reads.
    wanted = {
        "consumer lag growing": lambda e: "meterflow_kafka_consumer_lag" in e,
        "DLQ rate": lambda e: "meterflow_worker_records_total" in e and '"dlq"' in e,
        "quarantine share": lambda e: "meterflow_worker_records_total" in e and '"quarantine"' in e,
        "average quality under 80": lambda e: "meterflow_worker_flags_total" in e and "80" in e,
        "missing_extended alerts": lambda e: "missing_extended" in e,
        "delivery errors": lambda e: "meterflow_kafka_delivery_errors_total" in e,
        "PostgreSQL commit latency": lambda e: "meterflow_agg_commit_duration_seconds" in e,
        "API p95 latency": lambda e: "meterflow_api_request_duration_seconds" in e and "0.95" in e,
        "API 5xx rate": lambda e: "meterflow_api_requests_total" in e and "5.." in e,
        "DLQ review SLA (24 h)": lambda e: "meterflow_review_oldest_pending_seconds" in e
        and '"dlq"' in e and "86400" in e,
    }
    for what, pred in wanted.items():
        if not any(pred(expr) for n, expr, r in rules if "alert" in r):
            problems.append("no alert for %s" % what)
    rep.check("alert rules are complete and well-formed", problems, "%d alerts" % len(seen))


def check_dashboard(rep):
    path = os.path.join(DEPLOY, "observability", "grafana-dashboard.json")
    dash = JSON_DOCS.get(path)
    if not isinstance(dash, dict):
        rep.check("Grafana dashboard", ["%s missing or not an object" % rel(path)])
        return
    problems = []
    for k in ("title", "uid", "panels", "schemaVersion"):
        if k not in dash:
            problems.append("no %s" % k)
    ids = []

    def walk(panels):
        for p in panels or []:
            ids.append(p.get("id"))
            if p.get("type") != "row":
                if not p.get("targets"):
                    problems.append("panel %r has no query" % p.get("title"))
                ds = p.get("datasource") or {}
                if ds and ds.get("uid") not in ("${datasource}", "$datasource"):
                    problems.append("panel %r does not use the $datasource variable" % p.get("title"))
            walk(p.get("panels"))
    walk(dash.get("panels"))
    if len(ids) != len(set(ids)):
        problems.append("duplicate panel ids")
    if not any(v.get("type") == "datasource" for v in (dash.get("templating") or {}).get("list") or []):
        problems.append("no datasource variable (the dashboard would be bound to one Prometheus)")
    _, exprs = dashboard_exprs()
    used = set()
    for _, e in exprs:
        used |= {base_metric(m) for m in promql_metrics(e)}
    unused = sorted(CONTRACT_METRICS - used)
    if unused:
        problems.append("metrics of DESIGN §9 shown nowhere: %s" % ", ".join(unused))
    rep.check("Grafana dashboard is well-formed and covers DESIGN §9", problems,
              "%d panels" % len(ids))


def check_metrics_contract(rep):
    refs = referenced_metrics()
    if not refs:
        rep.check("metrics used by rules and dashboard are in DESIGN §9", ["no metric used"])
        return
    problems = []
    for m in sorted(refs):
        if base_metric(m) is None:
            problems.append("%s (in %s) is not a DESIGN §9 metric" % (m, ", ".join(sorted(refs[m]))))
    rep.check("metrics used by rules and dashboard are in DESIGN §9", problems,
              "%d distinct names" % len(refs))


# ------------------------------------------------------------------ running the fleet

def clean_env(extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for k, v in os.environ.items():
        if k.startswith(("ASAN_", "UBSAN_", "LSAN_", "MF_SANITIZED")):
            env[k] = v
    env.update(extra)
    return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def tail(path, n=8):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return " | ".join(l.rstrip() for l in f.readlines()[-n:])
    except OSError:
        return ""


class Fleet:
    """The local broker, a throw-away PostgreSQL and the three programs.
    Everything started here is stopped in stop(): SIGTERM, then SIGKILL."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="mf-deploy-")
        # A mktemp directory of its own for PostgreSQL: run as root, pgtmp
        # hands its DIR to the postgres user, who could not reach it inside
        # our 0700 directory. pgtmp accepts an empty existing DIR.
        self.pgdir = tempfile.mkdtemp(prefix="mf-deploy-pg-")
        self.pg_started = False
        self.procs = []            # (name, Popen, log path)
        self.broker = None
        self.ports = {}
        self.errors = {}           # program -> problem
        self.families = {}         # program -> {family: type}

    def start_broker(self):
        """The real broker (tools/kafka-local), as every program meets in production."""
        exe = os.path.join(TOP, "tools", "kafka-local")
        log = os.path.join(self.tmp, "kafka-local.log")
        self.broker = subprocess.Popen([exe, "--port", "0"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=open(log, "w"),
                                       env=clean_env(dict(
                                           {"MF_BIN_DIR": BIN},
                                           **{k: os.environ[k] for k in
                                              ("HOME", "MF_CACHE_DIR", "XDG_CACHE_HOME")
                                              if k in os.environ})))
        self.procs.append(("kafka-local", self.broker, log))
        ready, _, _ = select.select([self.broker.stdout], [], [], 90)
        line = self.broker.stdout.readline().decode().strip() if ready else ""
        if not line:
            raise RuntimeError("tools/kafka-local printed no bootstrap address within 90 s (%s)" % tail(log))
        # Keep reading its stdout so that it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.broker.stdout], daemon=True).start()
        return line

    def start_pg(self):
        script = os.path.join(TOP, "tests", "lib", "pgtmp.sh")
        if not os.access(script, os.X_OK):
            raise RuntimeError("%s not found" % script)
        self.pg_started = True
        r = subprocess.run([script, "start", self.pgdir], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 0 or not lines:
            raise RuntimeError("pgtmp.sh start failed: %s" % (r.stderr.strip() or r.stdout.strip()))
        return lines[-1].strip()

    def start(self):
        bootstrap = self.start_broker()
        dsn = self.start_pg()
        common = {"KAFKA_BROKERS": bootstrap, "LOG_LEVEL": "warn"}
        specs = {
            "ingest-gw": {"HTTP_ADDR": None, "GW_AUTH": "off"},
            "stream-worker": {"METRICS_ADDR": None, "PG_DSN": dsn, "TS_CHECK": "off"},
            "aggregator": {"METRICS_ADDR": None, "PG_DSN": dsn},
            "analytics-api": {"API_ADDR": None, "PG_DSN": dsn, "API_AUTH": "off"},
            "source-sink": {"METRICS_ADDR": None, "PG_DSN": dsn},
        }
        for prog, env in specs.items():
            exe = os.path.join(BIN, prog)
            if not os.access(exe, os.X_OK):
                self.errors[prog] = "%s not found: build it (make)" % exe
                continue
            port = free_port()
            env = dict(env)
            env[LISTEN_VAR[prog][0]] = "127.0.0.1:%d" % port
            log = os.path.join(self.tmp, prog + ".log")
            p = subprocess.Popen([exe], stdin=subprocess.DEVNULL, stdout=open(log, "w"),
                                 stderr=subprocess.STDOUT, env=clean_env(dict(common, **env)))
            self.procs.append((prog, p, log))
            self.ports[prog] = port

    def scrape(self):
        waiting = {prog: port for prog, port in self.ports.items()}
        deadline = time.time() + FLEET_TIMEOUT_S
        procs = {n: (p, log) for n, p, log in self.procs}
        while waiting and time.time() < deadline:
            for prog, port in list(waiting.items()):
                p, log = procs[prog]
                if p.poll() is not None:
                    self.errors[prog] = "%s exited with %d before /healthz answered: %s" % (
                        prog, p.returncode, tail(log))
                    del waiting[prog]
                    continue
                try:
                    status, _ = http_get("http://127.0.0.1:%d/healthz" % port)
                except (OSError, urllib.error.URLError):
                    continue
                if status == 200:
                    del waiting[prog]
                    try:
                        status, body = http_get("http://127.0.0.1:%d/metrics" % port)
                    except (OSError, urllib.error.URLError) as e:
                        self.errors[prog] = "GET /metrics failed: %s" % e
                        continue
                    fams = dict(re.findall(r"^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)", body, re.M))
                    if status != 200 or not fams:
                        self.errors[prog] = "/metrics answered %d with no # TYPE line" % status
                    else:
                        self.families[prog] = fams
            time.sleep(0.2)
        for prog in waiting:
            self.errors[prog] = "%s did not answer /healthz with 200 within %d s: %s" % (
                prog, FLEET_TIMEOUT_S, tail(procs[prog][1]))

    def stop(self):
        # Programs first (they leave their groups through the broker), then
        # the broker, then PostgreSQL.
        order = [x for x in self.procs if x[0] != "kafka-local"] + \
                [x for x in self.procs if x[0] == "kafka-local"]
        for batch in (order[:-1], order[-1:]) if order else ():
            for _, p, _ in batch:
                if p.poll() is None:
                    try:
                        p.send_signal(signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + STOP_TIMEOUT_S
            for _, p, _ in batch:
                try:
                    p.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.pg_started:
            subprocess.run([os.path.join(TOP, "tests", "lib", "pgtmp.sh"), "destroy", self.pgdir],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        else:
            os.rmdir(self.pgdir)        # still empty: pgtmp never ran
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_exported_metrics(rep):
    refs = referenced_metrics()
    fleet = Fleet()
    fatal = None
    try:
        fleet.start()
        fleet.scrape()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        fatal = str(e)
    finally:
        fleet.stop()
    for prog in PROGRAMS:
        name = "%s serves /healthz and /metrics" % prog
        if fatal:
            rep.check(name, ["the test fleet did not start: %s" % fatal])
        elif prog in fleet.errors:
            rep.check(name, [fleet.errors[prog]])
        else:
            rep.check(name, [], "%d families" % len(fleet.families.get(prog, {})))
    name = "every metric a rule or dashboard uses is exported by the programs"
    if fatal or len(fleet.families) < len(PROGRAMS):
        missing = [p for p in PROGRAMS if p not in fleet.families]
        rep.check(name, ["cannot scrape %s: %s" % (", ".join(missing), fatal or "see above")])
        return
    families = {}
    for fams in fleet.families.values():
        families.update(fams)
    problems = []
    for m in sorted(refs):
        if base_metric(m, families) is None:
            problems.append("%s (in %s) is exported by no program" % (m, ", ".join(sorted(refs[m]))))
    rep.check(name, problems, "%d names against %d families" % (len(refs), len(families)))


# ------------------------------------------------------------------ Dockerfile

def dockerfile_stages(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"\\\n", " ", text)
    args, stages = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
            continue
        if instr == "FROM":
            toks = [t for t in rest.split() if not t.startswith("--")]
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), toks[0])
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            stages.append({"name": name, "base": base, "instr": []})
            continue
        if stages:
            stages[-1]["instr"].append((instr, rest))
    return stages


def apt_installs(run):
    pkgs = set()
    for m in re.finditer(r"apt-get\s+install\s+([^;&|]*)", run):
        for t in m.group(1).split():
            if not t.startswith("-"):
                pkgs.add(t.split("=")[0])
    return pkgs


def stage_chain(stages, name):
    by = {s["name"]: s for s in stages if s["name"]}
    chain, cur = [], by.get(name)
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = by.get(cur["base"])
    return chain


def dockerignore_ignored(patterns, path):
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        if fnmatch.fnmatch(path, p) or path.startswith(p + "/"):
            ignored = not neg
    return ignored


def read_ignore(path):
    try:
        return [l.strip() for l in open(path, encoding="utf-8")
                if l.strip() and not l.strip().startswith("#")]
    except OSError:
        return None


def check_dockerfile(rep):
    path = os.path.join(DEPLOY, "docker", "Dockerfile")
    if not os.path.isfile(path):
        rep.check("Dockerfile", ["%s missing" % rel(path)])
        return None
    stages = dockerfile_stages(path)
    problems = []
    names = {s["name"] for s in stages}
    build = [s for s in stages if any("make" in r for i, r in s["instr"] if i == "RUN")]
    if not build:
        problems.append("no stage runs make")
    for s in build:
        if not s["base"].startswith("debian:bookworm"):
            problems.append("build stage %s is FROM %s, not debian:bookworm-slim" % (s["name"], s["base"]))
        inst = set().union(*[apt_installs(r) for i, r in s["instr"] if i == "RUN"])
        for p in ("build-essential", "librdkafka-dev", "libpq-dev", "libmicrohttpd-dev",
                  "libcjson-dev", "libssl-dev", "zlib1g-dev"):
            if p not in inst:
                problems.append("build stage does not install %s" % p)
    runtime_pkgs = {}
    for prog in PROGRAMS:
        if prog not in names:
            problems.append("no build target named %s" % prog)
            continue
        chain = stage_chain(stages, prog)
        instr = [x for s in chain for x in s["instr"]]      # nearest stage first
        if any(s in build for s in chain):
            problems.append("%s's image contains the build stage (use COPY --from)" % prog)
        base = chain[-1]["base"]
        if not base.startswith("debian:bookworm"):
            problems.append("%s runs on %s, not the build's debian:bookworm" % (prog, base))
        users = [r for i, r in instr if i == "USER"]
        if not users:
            problems.append("%s runs as root (no USER)" % prog)
        else:
            u = users[0].split(":")[0]
            if u in ("root", "0"):
                problems.append("%s: USER %s" % (prog, users[0]))
            elif u != str(IMAGE_UID):
                problems.append("%s: USER %s is not the numeric %d the manifests expect" % (
                    prog, users[0], IMAGE_UID))
        hc = [r for i, r in instr if i == "HEALTHCHECK"]
        if not hc or hc[0].strip().upper() == "NONE":
            problems.append("%s has no HEALTHCHECK" % prog)
        elif "/healthz" not in hc[0] and "mf-healthcheck" not in hc[0]:
            problems.append("%s's HEALTHCHECK does not probe /healthz" % prog)
        ep = [r for i, r in chain[0]["instr"] if i in ("ENTRYPOINT", "CMD")]
        if not ep or prog not in ep[0]:
            problems.append("%s's ENTRYPOINT does not run %s" % (prog, prog))
        envs = [r for i, r in instr if i == "ENV"]
        if envs:
            problems.append("%s: ENV in the image (%s): configuration belongs to the manifests" % (
                prog, envs))
        runtime_pkgs[prog] = set().union(*[apt_installs(r) for i, r in instr if i == "RUN"] or [set()])
        if any("build-essential" in p or p.endswith("-dev") for p in runtime_pkgs[prog]):
            problems.append("%s's runtime installs build packages: %s" % (prog, sorted(
                p for p in runtime_pkgs[prog] if p.endswith("-dev") or p == "build-essential")))
    # The ignore files: BuildKit's (next to the Dockerfile) and the copy for
    # the repository root must agree, and must not drop what the image COPYs.
    ign = os.path.join(DEPLOY, "docker", ".dockerignore")
    ign2 = path + ".dockerignore"
    pats, pats2 = read_ignore(ign), read_ignore(ign2)
    if pats is None or pats2 is None:
        problems.append("deploy/docker/.dockerignore and deploy/docker/Dockerfile.dockerignore must both exist")
    elif open(ign).read() != open(ign2).read():
        problems.append("deploy/docker/.dockerignore and Dockerfile.dockerignore differ")
    else:
        for s in stages:
            for i, r in s["instr"]:
                if i != "COPY" or "--from" in r:
                    continue
                srcs = [t for t in r.split() if not t.startswith("--")][:-1]
                for src in srcs:
                    if src in (".", "./"):
                        continue
                    if not os.path.exists(os.path.join(TOP, src)):
                        problems.append("COPY source %s does not exist" % src)
                    elif dockerignore_ignored(pats, src.strip("./")):
                        problems.append("COPY source %s is excluded by the .dockerignore" % src)
        for must in ("Makefile", "common"):
            if dockerignore_ignored(pats, must):
                problems.append("the .dockerignore excludes %s, which make needs" % must)
    rep.check("Dockerfile: build stage, non-root runtime targets with HEALTHCHECK", problems,
              ", ".join(s["name"] or "?" for s in stages))
    # The compose build targets must exist.
    problems = []
    for name, (prog, svc) in compose_program_services().items():
        if prog not in names:
            problems.append("compose service %s builds target %s, not in the Dockerfile" % (name, prog))
    rep.check("compose build targets exist in the Dockerfile", problems)
    return runtime_pkgs


def dpkg_owner(path):
    cands = []
    for p in (path, os.path.realpath(path)):
        for c in (p, p[4:] if p.startswith("/usr/") else "/usr" + p):
            if c not in cands:
                cands.append(c)
    for c in cands:
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            owners = r.stdout.splitlines()[0].rsplit(": ", 1)[0]
            return {o.strip().split(":")[0] for o in owners.split(",")}
    return None


def needed_packages(binaries):
    pkgs, problems, detail = set(), [], {}
    for b in binaries:
        od = subprocess.run(["objdump", "-p", b], capture_output=True, text=True)
        if od.returncode != 0:
            problems.append("objdump -p %s failed: %s" % (b, od.stderr.strip()))
            continue
        needed = re.findall(r"^\s*NEEDED\s+(\S+)", od.stdout, re.M)
        ld = subprocess.run(["ldd", b], capture_output=True, text=True)
        where = dict(re.findall(r"^\s*(\S+)\s+=>\s+(/\S+)", ld.stdout, re.M))
        for so in needed:
            if so not in where:
                problems.append("%s: ldd does not resolve %s" % (os.path.basename(b), so))
                continue
            owners = dpkg_owner(where[so])
            if not owners:
                problems.append("%s: no Debian package owns %s" % (os.path.basename(b), where[so]))
                continue
            for o in owners:
                detail.setdefault(o, set()).add(so)
            pkgs |= owners
    return pkgs, problems, detail


def check_runtime_packages(rep, runtime_pkgs):
    name = "Dockerfile runtime packages = the packages owning the binaries' NEEDED libraries"
    if runtime_pkgs is None:
        rep.check(name, ["no Dockerfile"])
        return
    bins = [os.path.join(BIN, p) for p in PROGRAMS]
    missing = [b for b in bins if not os.path.isfile(b)]
    if missing:
        rep.check(name, ["%s not found: build it (make)" % ", ".join(missing)])
        return
    for tool in ("objdump", "ldd", "dpkg"):
        if shutil.which(tool) is None:
            rep.check(name, ["%s is not installed" % tool])
            return
    try:
        codename = re.search(r"^VERSION_CODENAME=(\w+)", open("/etc/os-release").read(), re.M).group(1)
    except (OSError, AttributeError):
        codename = "?"
    if codename != "bookworm":
        rep.check(name, ["this host is Debian '%s', the image bookworm: package names would "
                         "not match; run this check on bookworm" % codename])
        return
    want, problems, detail = needed_packages(bins)
    want = {p for p in want if p not in IMPLICIT_PACKAGES and not SANITIZER_PACKAGES.match(p)}
    for prog, have in sorted(runtime_pkgs.items()):
        extra = have - want - RUNTIME_EXTRAS
        lacking = want - have
        if lacking:
            problems.append("%s image lacks %s (NEEDED %s)" % (
                prog, sorted(lacking), sorted(so for p in lacking for so in detail.get(p, ()))))
        if extra:
            problems.append("%s image installs %s, which no binary links directly" % (prog, sorted(extra)))
    rep.check(name, problems, " ".join(sorted(want)))


# ------------------------------------------------------------------ docs

def check_readme(rep):
    path = os.path.join(DEPLOY, "README.md")
    if not os.path.isfile(path):
        rep.check("deploy/README.md covers running, scaling, partitions, sizing", ["missing"])
        return
    text = open(path, encoding="utf-8").read().lower()
    problems = []
    for what, needles in (
            ("building the images", ["docker build -f deploy/docker/dockerfile ."]),
            ("the root .dockerignore note", [".dockerignore"]),
            ("running on a cluster", ["kubectl apply -k"]),
            ("scaling and its limit", ["replicas", "partitions", "eager"]),
            ("adding partitions safely", ["murmur2", "co-partition", "drain"]),
            ("sizing for 10,000 meters", ["10,000"]),
            ("sizing for 1,000,000 meters", ["1,000,000"]),
            ("PostgreSQL rows per day", ["rows/day"])):
        for n in needles:
            if n not in text:
                problems.append("%s: %r not found" % (what, n))
    rep.check("deploy/README.md covers running, scaling, partitions, sizing", problems)


# ------------------------------------------------------------------ main

def main():
    # run-tests.sh's timeout sends SIGTERM: turn it into an exception so the
    # fleet's `finally` still stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rep = Report()
    print("deploy: checking %s (programs from %s)" % (rel(DEPLOY), BIN))

    def run(fn, *args):
        # A manifest malformed in a way a check did not foresee (a missing
        # key, a string where a number belongs) fails that check, counted,
        # instead of ending the run with a traceback.
        try:
            return fn(rep, *args)
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            rep.check("%s completes" % fn.__name__, ["%s: %s" % (type(e).__name__, e)])
            return None

    run(check_parse)
    run(check_kustomize)
    run(check_compose)
    run(check_compose_topics)
    run(check_strimzi_topics)
    run(check_broker_topics)
    run(check_real_broker_topics)
    run(check_connectors)
    run(check_connect_schema)
    run(check_connect_readme)
    run(check_deployments)
    run(check_keda)
    run(check_secrets)
    run(check_env)
    run(check_rules)
    run(check_dashboard)
    run(check_metrics_contract)
    runtime = run(check_dockerfile)
    run(check_runtime_packages, runtime)
    run(check_exported_metrics)
    run(check_readme)
    if rep.failed:
        print()
        print("failed checks:")
        for f in rep.failed:
            print("  - %s" % f)
    print("deploy: %d passed, %d failed" % (rep.passed, len(rep.failed)))
    return 0 if not rep.failed else 1


if __name__ == "__main__":
    sys.exit(main())
